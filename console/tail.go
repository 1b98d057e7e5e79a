package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/weightgate/weightgate/audit/index"
)

// tailRow is a row of the live tail as the page's script receives it.
type tailRow struct {
	Instance string `json:"instance"`
	Seq      int64  `json:"seq"`
	Time     string `json:"time"`
	Subject  string `json:"subject"`
	Entity   string `json:"entity"`
	Country  string `json:"country"`
	Model    string `json:"model"`
	File     string `json:"file"`
	Decision string `json:"decision"`
	Code     string `json:"code"`
	URL      string `json:"url"`
}

// tail streams the rows the index adds from now on that pass the filter,
// as server-sent events: "row" for each, "gap" when the index dropped rows
// for this subscriber because it read too slowly (the page says so and
// asks for a reload). It ends when the client goes, or at Close.
func (c *Console) tail(x *exchange) {
	f, e := parseFilter(x.r.URL.Query())
	if e != nil {
		x.fail(e)
		return
	}
	rc := http.NewResponseController(x.w)
	rows, cancel := c.opts.Index.Subscribe()
	defer cancel()
	x.detail = describeFilter(f)
	if !x.commit(http.StatusOK, "") {
		return
	}
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx and the like: pass events through at once
	x.w.WriteHeader(http.StatusOK)
	// The retry hint keeps a browser from hammering a gateway that has
	// just restarted.
	fmt.Fprint(x.w, "retry: 5000\n\n")
	if rc.Flush() != nil {
		return
	}
	ka := time.NewTicker(c.opts.KeepAlive)
	defer ka.Stop()
	ctx := x.r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.closing:
			return
		case <-ka.C:
			if _, err := fmt.Fprint(x.w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case r, ok := <-rows:
			if !ok {
				return
			}
			if r.Gap {
				fmt.Fprint(x.w, "event: gap\ndata: {}\n\n")
			}
			if matches(f, r) {
				b, _ := json.Marshal(tailOf(r))
				if _, err := fmt.Fprintf(x.w, "event: row\nid: %s/%d\ndata: %s\n\n", r.Instance, r.Seq, b); err != nil {
					return
				}
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

func tailOf(r index.Row) tailRow {
	ent := r.EntityName
	if ent == "" {
		ent = r.EntityID
	}
	return tailRow{Instance: r.Instance, Seq: r.Seq, Time: r.Time.UTC().Format("2006-01-02 15:04:05"), Subject: r.Subject,
		Entity: ent, Country: r.Country, Model: r.Model, File: r.File, Decision: r.Decision, Code: r.Code,
		URL: "/console/decisions/" + r.Instance + "/" + strconv.FormatInt(r.Seq, 10)}
}
