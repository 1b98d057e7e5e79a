package identity

import (
	"net/http"
	"net/http/httptest"
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
