package e2e

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/gatewaytest"
)

// ------------------------------------------------ filling the audit disk

// trailBytes is the size of the whole audit trail.
func trailBytes(tb testing.TB, h *gatewaytest.Harness) int64 {
	tb.Helper()
	files, err := audit.Files(h.AuditDir)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			tb.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestAttackAuditFlood: a request that carries a megabyte (a path, a
// header the record copies, a claim of a validly signed token) adds one
// decision record of at most audit.MaxRecordBytes to the trail, which says
// which fields were cut. Before, a 900 KB path was stored four times over.
func TestAttackAuditFlood(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	huge := strings.Repeat("a", 900<<10)
	cn := h.Token(t, gatewaytest.Claims("CN"))
	bigClaim := gatewaytest.Claims("CN")
	// Verify refuses tokens over identity.MaxTokenSize; this one is just
	// under it.
	bigClaim.Name = strings.Repeat("N", 11<<10)
	bigToken := h.Token(t, bigClaim)
	for _, tt := range []struct {
		name, target, token, extra string
		cut                        []string // fields the record must list as cut
	}{
		{"900 KB path, anonymous", gatewaytest.Frontier + huge, "", "", []string{"path", "object"}},
		{"900 KB path, with a token", gatewaytest.Frontier + huge, cn, "", []string{"path", "object"}},
		{"900 KB Range header", gatewaytest.Frontier + gatewaytest.Shard1, cn, "Range: bytes=0-0" + strings.Repeat(",0-0", 200<<10) + "\r\n", []string{"input.request.range"}},
		{"11 KB name claim", gatewaytest.Frontier + gatewaytest.Shard1, bigToken, "", []string{"input.subject.name", "input.subject.claims"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := trailBytes(t, h)
			resp, body := rawGet(t, h, "GET", tt.target, tt.token, tt.extra)
			assertNoClosedBytes(t, "response body", body)
			id := resp.Header.Get("X-Request-Id")
			if id == "" {
				t.Fatalf("status %d without a request id: the request was refused before the gateway, so the test proves nothing; body %.200s", resp.StatusCode, body)
			}
			decisions, transfers := h.RecordsFor(t, id)
			if len(decisions) != 1 || len(transfers) != 0 {
				t.Fatalf("records: %d decisions, %d transfers; want one decision", len(decisions), len(transfers))
			}
			// The trail grew by one line: the record and its frame (seq,
			// time, kind, prev, hash: under 300 bytes).
			if grew := trailBytes(t, h) - before; grew > audit.MaxRecordBytes+512 {
				t.Errorf("the trail grew by %d bytes for one request; want at most %d", grew, audit.MaxRecordBytes+512)
			}
			var cut []string
			for _, c := range decisions[0].Truncated {
				cut = append(cut, c.Field)
				if c.Length < 10<<10 {
					t.Errorf("truncated %s: length %d, want the original length", c.Field, c.Length)
				}
			}
			for _, f := range tt.cut {
				if !slices.Contains(cut, f) {
					t.Errorf("truncated = %v, want %s among them", cut, f)
				}
			}
		})
	}
}
