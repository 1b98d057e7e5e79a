package gatewaytest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// What a Hub client reads.

// NoXet fails when a response carries anything that would send a Hub client
// to a Xet store, around the gateway (reference §8.1).
func NoXet(tb testing.TB, resp *http.Response, body []byte) {
	tb.Helper()
	for k, v := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-xet") {
			tb.Errorf("%s %s: Xet header %s: %q", resp.Request.Method, resp.Request.URL.Path, k, v)
		}
	}
	if strings.Contains(resp.Header.Get("Link"), "xet") || strings.Contains(resp.Header.Get("Content-Type"), "xet") {
		tb.Errorf("%s %s: Xet link or content type: %q, %q", resp.Request.Method, resp.Request.URL.Path, resp.Header.Get("Link"), resp.Header.Get("Content-Type"))
	}
	if strings.Contains(strings.ToLower(string(body)), "xet") {
		tb.Errorf("%s %s: body mentions xet: %.200s", resp.Request.Method, resp.Request.URL.Path, body)
	}
}

// TreeEntry is a tree or paths-info entry as the Hub's clients read it.
type TreeEntry struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Size *int64 `json:"size"`
	OID  string `json:"oid"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs"`
	LastCommit *struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Date  string `json:"date"`
	} `json:"lastCommit"`
}

// LinkNext is the regex @huggingface/hub's parseLinkHeader applies.
var LinkNext = regexp.MustCompile(`<(https?://[^>]+)>;\s+rel="([^"]+)"`)

// ListTree follows a tree listing's next links from path, returning every
// entry and the number of pages.
func ListTree(tb testing.TB, h *Harness, path, token string, header http.Header) ([]TreeEntry, int) {
	tb.Helper()
	var all []TreeEntry
	url := h.URL + path
	pages := 0
	for url != "" {
		pages++
		if pages > 100 {
			tb.Fatal("more than 100 pages")
		}
		p, ok := strings.CutPrefix(url, h.URL)
		if !ok {
			tb.Fatalf("next link %q is not on the gateway %s", url, h.URL)
		}
		resp, body := h.Do(tb, http.MethodGet, p, token, header)
		if resp.StatusCode != 200 {
			tb.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
		NoXet(tb, resp, body)
		all = append(all, DecodeJSON[[]TreeEntry](tb, body)...)
		url = ""
		if l := resp.Header.Get("Link"); l != "" {
			m := LinkNext.FindStringSubmatch(l)
			if m == nil || m[2] != "next" {
				tb.Fatalf("Link %q is not an absolute rel=\"next\" link", l)
			}
			url = m[1]
		}
	}
	return all, pages
}

// DecodeJSON decodes a JSON body, failing the test when it does not parse.
func DecodeJSON[T any](tb testing.TB, body []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatalf("body %q: %v", body, err)
	}
	return v
}
