package console

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/weightgate/weightgate/audit/evidence"
	"github.com/weightgate/weightgate/audit/index"
)

type evidenceView struct {
	Fields         []field
	Decision, Kind string
	Since, Until   string
}

func (c *Console) evidenceForm(x *exchange) {
	f, e := parseFilter(x.r.URL.Query())
	if e != nil {
		x.fail(e)
		return
	}
	var v evidenceView
	v.Fields, v.Since, v.Until = c.filterForm(f)
	v.Decision, v.Kind = f.Decision, f.Kind
	x.render(http.StatusOK, "evidence", "Evidence export", v)
}

// evidenceExport streams one archive of the records that match the posted
// filter (a time range, or a query), as `weightgate audit verify --evidence`
// checks it offline. The request is recorded, with its filter, before the
// first byte; should the archive fail halfway, the connection is cut so
// that no one keeps a short archive for a whole one.
func (c *Console) evidenceExport(x *exchange) {
	if err := x.r.ParseForm(); err != nil {
		x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_filter", Message: "The form could not be read."})
		return
	}
	f, e := parseFilter(x.r.PostForm)
	if e != nil {
		x.fail(e)
		return
	}
	if f.Since.IsZero() && f.Until.IsZero() && filterValues(index.Filter{Kind: f.Kind}).Encode() == filterValues(f).Encode() {
		// A whole-trail export is allowed but is said outright, not
		// reached by an empty form by mistake.
		if x.r.PostFormValue("everything") != "1" {
			x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_filter", Message: "Give a time range or a query, or tick \"the whole trail\"."})
			return
		}
	}
	x.detail = "evidence: " + describeFilter(f)
	// The archive is built in a temporary file, then sent: a failure is
	// then an error page and a record that says so, not a cut download
	// recorded as sent.
	tmp, err := os.CreateTemp("", "weightgate-evidence-*.tar.gz")
	if err != nil {
		x.fail(internal(err))
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	sum, err := evidence.Write(x.r.Context(), tmp, c.opts.Index, f)
	if err != nil {
		x.fail(&Error{Status: http.StatusServiceUnavailable, Code: "evidence_failed", Message: "The evidence archive could not be made: " + err.Error(), Err: err})
		return
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		x.fail(internal(err))
		return
	}
	x.detail += fmt.Sprintf(" (%d records, %d lines, %d checkpoints, %d bytes)", sum.Records, sum.Lines, sum.Checkpoints, size)
	if !x.commit(http.StatusOK, "") {
		return
	}
	name := "weightgate-evidence-" + c.opts.Now().UTC().Format("20060102T150405Z") + ".tar.gz"
	h := x.w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if _, err := io.Copy(x.w, tmp); err != nil {
		c.log.Warn("evidence download cut short", "err", err)
	}
}
