package s3api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets of SigV4 parsing, header and presigned forms.

// fuzzLookup knows every access key, with one secret: Verify then runs to
// the signature comparison on whatever parses.
var fuzzLookup = lookupFunc(func(akid, token string, now time.Time) (*Credential, error) {
	return &Credential{AccessKeyID: akid, SecretAccessKey: "fuzz-secret", SessionToken: token}, nil
})

// checkAuthError: every refusal of parseAuth is a client error *Error.
func checkAuthError(t *testing.T, what string, e *Error) {
	t.Helper()
	if e.Status != http.StatusBadRequest && e.Status != http.StatusForbidden {
		t.Fatalf("%s: status %d (%s)", what, e.Status, e.Code)
	}
	if e.Code == "" || e.Message == "" {
		t.Fatalf("%s: error without code or message: %+v", what, e)
	}
}

// checkAuthInfo: what parseAuth accepts has the shape SigV4 requires and the
// scope of opts.
func checkAuthInfo(t *testing.T, what string, ai *authInfo, opts VerifyOptions) {
	t.Helper()
	switch {
	case ai.accessKeyID == "" || strings.Contains(ai.accessKeyID, "/"):
		t.Fatalf("%s: access key id %q", what, ai.accessKeyID)
	case ai.region != opts.Region || ai.service != opts.Service:
		t.Fatalf("%s: scope %s/%s accepted", what, ai.region, ai.service)
	case ai.scopeDate != ai.date.Format(scopeDate):
		t.Fatalf("%s: scope date %s for request date %s", what, ai.scopeDate, ai.date)
	case len(ai.sig) != 64 || !isLowerHex(ai.sig):
		t.Fatalf("%s: signature %q", what, ai.sig)
	case !slices.Contains(ai.signedHeaders, "host"):
		t.Fatalf("%s: host not signed: %q", what, ai.signedHeaders)
	case ai.expires < 0 || ai.expires > MaxPresignExpiry:
		t.Fatalf("%s: expires %v", what, ai.expires)
	}
	seen := map[string]bool{}
	for _, h := range ai.signedHeaders {
		if h == "" || h != strings.ToLower(h) || !isToken(h) || seen[h] {
			t.Fatalf("%s: signed headers %q", what, ai.signedHeaders)
		}
		seen[h] = true
	}
}

// FuzzSigV4Header: the Authorization header form. Whatever is accepted has
// exactly one each of Credential, SignedHeaders and Signature, well formed
// and in scope, and one date; removing any of the three fields or repeating
// one is refused; every refusal is a 400/403 *Error; Verify never panics.
func FuzzSigV4Header(f *testing.F) {
	const sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	cred := "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	good := "AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" + sig
	for _, s := range []struct{ auth, date, httpDate string }{
		{good, "20130524T000000Z", ""},
		{strings.ReplaceAll(good, ",", ", "), "20130524T000000Z", ""},
		{"AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=date;host,Signature=" + sig, "", "Fri, 24 May 2013 00:00:00 GMT"},
		{good + ",Signature=" + sig, "20130524T000000Z", ""},
		{good + ",Foo=bar", "20130524T000000Z", ""},
		{"AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=host", "20130524T000000Z", ""},
		{strings.Replace(good, "/s3/", "/s3", 1), "20130524T000000Z", ""},
		{strings.Replace(good, "host;", "host;;", 1), "20130524T000000Z", ""},
		{strings.Replace(good, "host;", "host;host;", 1), "20130524T000000Z", ""},
		{strings.Replace(good, "host;", "Host;", 1), "20130524T000000Z", ""},
		{good[:len(good)-1], "20130524T000000Z", ""},
		{good, "20130525T000000Z", ""},
		{good, "2013-05-24T00:00:00Z", ""},
		{"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "", ""},
		{"AWS4-HMAC-SHA256", "20130524T000000Z", ""},
		{"AWS4-HMAC-SHA256 ,,", "20130524T000000Z", ""},
		{"AWS4-HMAC-SHA256 Credential==,SignedHeaders==,Signature==", "20130524T000000Z", ""},
	} {
		f.Add(s.auth, s.date, s.httpDate, "token")
	}
	opts := VerifyOptions{}.withDefaults()
	parse := func(auth, date, httpDate, token string) (*http.Request, *authInfo, *Error) {
		r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.Header["Authorization"] = []string{auth}
		if date != "" {
			r.Header["X-Amz-Date"] = []string{date}
		}
		if httpDate != "" {
			r.Header["Date"] = []string{httpDate}
		}
		if token != "" {
			r.Header["X-Amz-Security-Token"] = []string{token}
		}
		r.Header.Set("X-Amz-Content-Sha256", EmptyPayloadHash)
		ai, e := parseAuth(r, opts)
		return r, ai, e
	}
	f.Fuzz(func(t *testing.T, auth, date, httpDate, token string) {
		r, ai, e := parse(auth, date, httpDate, token)
		if e != nil {
			checkAuthError(t, "parseAuth("+strconv.Quote(auth)+")", e)
			return
		}
		what := "parseAuth(" + strconv.Quote(auth) + ")"
		checkAuthInfo(t, what, ai, opts)
		if ai.presigned || ai.token != token {
			t.Fatalf("%s: presigned %v, token %q", what, ai.presigned, ai.token)
		}
		alg, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
		if alg != sigV4Algorithm {
			t.Fatalf("%s: algorithm %q accepted", what, alg)
		}
		fields := strings.Split(rest, ",")
		count := map[string]int{}
		for _, fld := range fields {
			k, _, _ := strings.Cut(strings.TrimSpace(fld), "=")
			count[k]++
		}
		if len(count) != 3 || count["Credential"] != 1 || count["SignedHeaders"] != 1 || count["Signature"] != 1 {
			t.Fatalf("%s: fields %v accepted", what, count)
		}
		// Without any one field, or with one repeated, it is refused.
		for i := range fields {
			without := alg + " " + strings.Join(slices.Delete(slices.Clone(fields), i, i+1), ",")
			if _, _, e := parse(without, date, httpDate, token); e == nil {
				t.Fatalf("%s: accepted without field %q: %q", what, fields[i], without)
			}
			twice := alg + " " + strings.Join(append(slices.Clone(fields), fields[i]), ",")
			if _, _, e := parse(twice, date, httpDate, token); e == nil {
				t.Fatalf("%s: accepted with field %q repeated: %q", what, fields[i], twice)
			}
		}
		// Verify runs the rest (time, signed headers, canonical request) and
		// cannot match a fuzzed signature.
		if _, err := Verify(r, fuzzLookup, ai.date, VerifyOptions{}); err == nil {
			t.Fatalf("%s: Verify accepted a fuzzed signature", what)
		}
	})
}

// FuzzSigV4Query: the presigned form. Whatever is accepted has each of the
// six X-Amz-* parameters exactly once, well formed and in scope, with
// X-Amz-Expires at most a week; removing any of them or repeating one is
// refused; every refusal is a 400/403 *Error; Verify never panics.
func FuzzSigV4Query(f *testing.F) {
	good := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	for _, s := range []string{
		good, good + "&X-Amz-Security-Token=tok", good + "&X-Amz-Security-Token=a&X-Amz-Security-Token=b",
		good + "&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD", good + "&X-Amz-Signature=00", good + "&AWSAccessKeyId=x",
		strings.Replace(good, "86400", "604801", 1), strings.Replace(good, "86400", "-1", 1),
		strings.Replace(good, "86400", "+5", 1), strings.Replace(good, "&X-Amz-Date=20130524T000000Z", "", 1),
		strings.Replace(good, "%2F", "/", -1), good + "&x;y", good + "&%zz", "prefix=a&max-keys=2", "",
		"X-Amz-Algorithm=AWS4-HMAC-SHA1", strings.Replace(good, "host", "host%3Bhost", 1),
	} {
		f.Add(s)
	}
	opts := VerifyOptions{}.withDefaults()
	parse := func(raw string) (*http.Request, *authInfo, *Error) {
		r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.URL.RawQuery = raw
		ai, e := parseAuth(r, opts)
		return r, ai, e
	}
	required := []string{queryAlgorithm, queryCredential, queryDate, queryExpires, querySignedHeaders, querySignature}
	f.Fuzz(func(t *testing.T, raw string) {
		r, ai, e := parse(raw)
		what := "parseAuth(?" + raw + ")"
		if e != nil {
			checkAuthError(t, what, e)
			return
		}
		checkAuthInfo(t, what, ai, opts)
		q, qe := parseQuery(raw)
		if qe != nil || !ai.presigned {
			t.Fatalf("%s: presigned %v, query error %v", what, ai.presigned, qe)
		}
		for _, name := range required {
			if n := len(q.values(name)); n != 1 {
				t.Fatalf("%s: accepted with %s %d times", what, name, n)
			}
		}
		if v := q.values(queryAlgorithm)[0]; v != sigV4Algorithm {
			t.Fatalf("%s: algorithm %q accepted", what, v)
		}
		if n := len(q.values(querySecurityToken)); n > 1 {
			t.Fatalf("%s: accepted with %d security tokens", what, n)
		}
		encode := func(ps queryPairs) string {
			parts := make([]string, len(ps))
			for i, p := range ps {
				parts[i] = url.QueryEscape(p.key) + "=" + url.QueryEscape(p.value)
			}
			return strings.Join(parts, "&")
		}
		if _, _, e := parse(encode(q)); e != nil {
			t.Fatalf("%s: re-encoded query refused: %v", what, e)
		}
		for _, name := range required {
			var without queryPairs
			for _, p := range q {
				if p.key != name {
					without = append(without, p)
				} else {
					// Repeated: the pair again, at the end.
					if _, _, e := parse(encode(append(slices.Clone(q), p))); e == nil {
						t.Fatalf("%s: accepted with %s repeated", what, name)
					}
				}
			}
			if _, _, e := parse(encode(without)); e == nil {
				t.Fatalf("%s: accepted without %s", what, name)
			}
		}
		if _, err := Verify(r, fuzzLookup, ai.date, VerifyOptions{}); err == nil {
			t.Fatalf("%s: Verify accepted a fuzzed signature", what)
		}
	})
}
