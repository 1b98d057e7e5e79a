package httpsem

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheckConditions(t *testing.T) {
	const etag = `"9b2cf535f27731c974343645a3985328"`
	mod := time.Date(2026, 7, 1, 12, 0, 0, 250_000_000, time.UTC)
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	at := mod.Format(http.TimeFormat) // the same second, fraction dropped
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    int
	}{
		{"no conditions", "GET", nil, 200},
		{"If-Match matches", "GET", map[string]string{"If-Match": etag}, 200},
		{"If-Match unquoted", "GET", map[string]string{"If-Match": strings.Trim(etag, `"`)}, 200},
		{"If-Match in a list", "GET", map[string]string{"If-Match": `"x", ` + etag}, 200},
		{"If-Match star", "GET", map[string]string{"If-Match": "*"}, 200},
		{"If-Match differs", "GET", map[string]string{"If-Match": `"x"`}, 412},
		{"If-Match weak never matches", "GET", map[string]string{"If-Match": "W/" + etag}, 412},
		{"If-Match empty tag", "GET", map[string]string{"If-Match": `""`}, 412},
		{"If-None-Match matches", "GET", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match matches, HEAD", "HEAD", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match weak matches", "GET", map[string]string{"If-None-Match": "W/" + etag}, 304},
		{"If-None-Match star", "GET", map[string]string{"If-None-Match": "*"}, 304},
		{"If-None-Match differs", "GET", map[string]string{"If-None-Match": `"x"`}, 200},
		{"If-Modified-Since before", "GET", map[string]string{"If-Modified-Since": before}, 200},
		{"If-Modified-Since same second", "GET", map[string]string{"If-Modified-Since": at}, 304},
		{"If-Modified-Since after", "GET", map[string]string{"If-Modified-Since": after}, 304},
		{"If-Modified-Since unparsable", "GET", map[string]string{"If-Modified-Since": "yesterday"}, 200},
		{"If-Unmodified-Since before", "GET", map[string]string{"If-Unmodified-Since": before}, 412},
		{"If-Unmodified-Since same second", "GET", map[string]string{"If-Unmodified-Since": at}, 200},
		{"If-Unmodified-Since after", "GET", map[string]string{"If-Unmodified-Since": after}, 200},
		// S3's documented combinations.
		{"If-Match true, If-Unmodified-Since false: 200", "GET", map[string]string{"If-Match": etag, "If-Unmodified-Since": before}, 200},
		{"If-None-Match false, If-Modified-Since true: 304", "GET", map[string]string{"If-None-Match": etag, "If-Modified-Since": before}, 304},
		{"If-None-Match true, If-Modified-Since false: 200", "GET", map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": after}, 200},
		{"If-Match false wins over If-None-Match", "GET", map[string]string{"If-Match": `"x"`, "If-None-Match": etag}, 412},
		{"If-Unmodified-Since false wins over If-None-Match", "GET", map[string]string{"If-Unmodified-Since": before, "If-None-Match": etag}, 412},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/b/k", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := CheckConditions(r, etag, mod); got != tt.want {
				t.Errorf("CheckConditions = %d, want %d", got, tt.want)
			}
		})
	}
}
