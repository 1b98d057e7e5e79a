package s3api

import (
	"encoding/xml"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
)

// testKey is the issuer key of the tests; never a real one.
var testKey = []byte("weightgate-s3api-test-key-012345")

// testSubject is an identified subject with claims, as the gateway's
// identity verifier would return it.
// testBinding is a credential's binding to an issuer and key.
func testBinding() Binding {
	return Binding{Issuer: "https://idp.example", KeyID: "k1", Algorithm: "EdDSA", Thumbprint: "dGh1bWJwcmludA"}
}

func testSubject() policy.Subject {
	return policy.Subject{
		ID:          "alice@example.com",
		Name:        "Alice Example",
		Country:     "DE",
		Nationality: []string{"DE"},
		Entity:      policy.Entity{Name: "Example GmbH", ID: "E-1", HQ: "DE"},
		Claims:      map[string]any{"sub": "alice@example.com", "groups": []any{"ml"}},
		Screening:   policy.Screening{Status: policy.ScreeningClear},
	}
}

// MustIssuer returns an Issuer with testKey whose clock is now.
func MustIssuer(tb testing.TB, now func() time.Time) *Issuer {
	tb.Helper()
	iss, err := NewIssuer(testKey)
	if err != nil {
		tb.Fatal(err)
	}
	iss.Now = now
	return iss
}

// MustIssue issues a credential for testSubject valid for ttl from iss's
// clock.
func MustIssue(tb testing.TB, iss *Issuer, ttl time.Duration) Credential {
	tb.Helper()
	cred, err := iss.Issue(testSubject(), testBinding(), iss.now().Add(ttl), ttl)
	if err != nil {
		tb.Fatal(err)
	}
	return cred
}

// s3ErrorBody is S3's error document as a client decodes it.
type s3ErrorBody struct {
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	Resource  string `xml:"Resource"`
	RequestID string `xml:"RequestId"`
	Region    string `xml:"Region"`
}

// readS3Error decodes an S3 error response; Code is "" for a success.
func readS3Error(tb testing.TB, resp *http.Response) s3ErrorBody {
	tb.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var e s3ErrorBody
	if resp.StatusCode >= 300 && len(body) > 0 {
		if err := xml.Unmarshal(body, &e); err != nil {
			tb.Fatalf("status %d, body %q: %v", resp.StatusCode, body, err)
		}
	}
	return e
}
