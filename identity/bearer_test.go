package identity

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseBearer(t *testing.T) {
	const jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln"
	tests := []struct {
		name        string
		header      string
		wantToken   string
		wantPresent bool
		wantErr     bool
	}{
		{"absent", "", "", false, false},
		{"bearer", "Bearer " + jwt, jwt, true, false},
		{"lower-case scheme", "bearer " + jwt, jwt, true, false},
		{"upper-case scheme", "BEARER " + jwt, jwt, true, false},
		{"extra spaces", "Bearer   " + jwt, jwt, true, false},
		{"token68 padding", "Bearer abc==", "abc==", true, false},
		{"hf_ prefixed, passed on whole to Verify", "Bearer hf_" + jwt, "hf_" + jwt, true, false},
		{"basic", "Basic dXNlcjpwYXNz", "", true, true},
		{"scheme only", "Bearer", "", true, true},
		{"scheme and space", "Bearer ", "", true, true},
		{"only padding", "Bearer ==", "", true, true},
		{"token without scheme", jwt, "", true, true},
		{"blank", "   ", "", true, true},
		{"space inside token", "Bearer abc def", "", true, true},
		{"trailing space", "Bearer " + jwt + " ", "", true, true},
		{"tab separator", "Bearer\t" + jwt, "", true, true},
		{"quoted token", `Bearer "` + jwt + `"`, "", true, true},
		{"Bearerx scheme", "Bearerx " + jwt, "", true, true},
		{"mixed-case scheme", "bEaReR " + jwt, jwt, true, false},
		{"one-character token", "Bearer A", "A", true, false},
		{"every token68 symbol", "Bearer -._~+/", "-._~+/", true, false},
		{"letter and digit bounds with padding", "Bearer azAZ09=", "azAZ09=", true, false},
		{"leading space", " Bearer " + jwt, "", true, true},
		{"padding inside token", "Bearer ab=c", "", true, true},
		{"padding first", "Bearer =abc", "", true, true},
		{"non-ASCII letter", "Bearer abcé", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, present, err := ParseBearer(tt.header)
			if got, want := token, tt.wantToken; got != want {
				t.Errorf("token = %q, want %q", got, want)
			}
			if got, want := present, tt.wantPresent; got != want {
				t.Errorf("present = %v, want %v", got, want)
			}
			if tt.wantErr {
				assertReason(t, err, ReasonMalformedAuthorization, "")
			} else if err != nil {
				t.Errorf("err = %v, want nil", err)
			}
		})
	}
}

// TestParseBearerFromRequest reads the header the way the gateway's
// middleware will, from a real HTTP request.
func TestParseBearerFromRequest(t *testing.T) {
	type result struct {
		token   string
		present bool
		err     error
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present, err := ParseBearer(r.Header.Get("Authorization"))
		got <- result{token, present, err}
	}))
	defer srv.Close()

	for _, tt := range []struct {
		header      string
		wantToken   string
		wantPresent bool
		wantErr     bool
	}{
		{"", "", false, false},
		{"Bearer abc.def.ghi", "abc.def.ghi", true, false},
		{"Basic dXNlcjpwYXNz", "", true, true},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := <-got
		if r.token != tt.wantToken || r.present != tt.wantPresent || (r.err != nil) != tt.wantErr {
			t.Errorf("header %q: got (%q, %v, %v), want (%q, %v, error %v)",
				tt.header, r.token, r.present, r.err, tt.wantToken, tt.wantPresent, tt.wantErr)
		}
	}
}

// TestParseBearerToken68Alphabet tries every byte as a token on its own,
// inside a token and before padding: exactly the RFC 7235 token68
// characters are accepted, and "=" only as trailing padding.
func TestParseBearerToken68Alphabet(t *testing.T) {
	t.Parallel()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
	forms := []struct {
		name  string
		token func(c string) string
	}{
		{"alone", func(c string) string { return c }},
		{"inside", func(c string) string { return "x" + c + "x" }},
		{"before padding", func(c string) string { return c + "==" }},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			for b := range 256 {
				c := string([]byte{byte(b)})
				tok := f.token(c)
				got, present, err := ParseBearer("Bearer " + tok)
				if !present {
					t.Errorf("byte %#02x: present = false, want true", b)
				}
				if strings.Contains(alphabet, c) {
					if err != nil || got != tok {
						t.Errorf("byte %#02x (%q): got (%q, %v), want (%q, nil)", b, c, got, err, tok)
					}
					continue
				}
				if err == nil {
					t.Errorf("byte %#02x (%q): token %q accepted, want ReasonMalformedAuthorization", b, c, got)
					continue
				}
				assertReason(t, err, ReasonMalformedAuthorization, "")
			}
		})
	}
}
