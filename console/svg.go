package console

import (
	"fmt"
	"html"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/weightgate/weightgate/audit/index"
)

// The charts are SVG written here, on the server: no script draws them, so
// they print, they need nothing from elsewhere, and a page is the same for
// everyone who asks. Colours are classes of console.css (with a fill
// attribute the print view and a stylesheet-less reader still see); the
// Content-Security-Policy forbids style attributes, and none is used.

// bar is one bar of a horizontal bar chart.
type bar struct {
	Label string
	Value int64
	Text  string // the value as shown; the number when ""
	Class string // bar colour (console.css): "allow", "deny", "neutral", a group key
	Title string // the tooltip
}

const (
	chartWidth = 640
	labelWidth = 230
	valueWidth = 90
	rowHeight  = 22
)

var fills = map[string]string{
	"allow": "#2e7d32", "deny": "#c62828", "neutral": "#1565c0",
	"embargoed": "#7a0c0c", "country_of_concern": "#c62828", "russia_belarus": "#c62828",
	"tier2": "#ef8f00", "tier1": "#2e7d32", "other": "#5c6bc0", ungrouped: "#757575",
}

func fill(class string) string {
	if f, ok := fills[class]; ok {
		return f
	}
	return "#1565c0"
}

func esc(s string) string { return html.EscapeString(s) }

// hbars draws a horizontal bar chart, one row per bar, scaled to the
// largest value; title labels the chart for screen readers.
func hbars(title string, bars []bar) template.HTML {
	if len(bars) == 0 {
		return template.HTML(`<p class="empty">Nothing in this window.</p>`)
	}
	var max int64 = 1
	for _, b := range bars {
		if b.Value > max {
			max = b.Value
		}
	}
	h := len(bars)*rowHeight + 4
	plot := chartWidth - labelWidth - valueWidth
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`,
		esc(title), chartWidth, h, chartWidth, h)
	for i, b := range bars {
		y := i*rowHeight + 2
		w := int(float64(plot) * float64(b.Value) / float64(max))
		if b.Value > 0 && w < 1 {
			w = 1
		}
		text := b.Text
		if text == "" {
			text = strconv.FormatInt(b.Value, 10)
		}
		tip := b.Title
		if tip == "" {
			tip = b.Label + ": " + text
		}
		label := b.Label
		if len(label) > 34 {
			label = label[:33] + "…"
		}
		fmt.Fprintf(&sb, `<g class="bar %s"><title>%s</title>`, esc(b.Class), esc(tip))
		fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end" class="label">%s</text>`, labelWidth-6, y+15, esc(label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"></rect>`, labelWidth, y+3, w, rowHeight-6, fill(b.Class))
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="value">%s</text></g>`, labelWidth+w+6, y+15, esc(text))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// hourly draws decisions per hour over [since, until) as columns: every
// hour of the window has its column, zero or not, so the time axis is true.
func hourly(counts []index.Count, since, until time.Time) template.HTML {
	start, end := since.UTC().Truncate(time.Hour), until.UTC()
	n := int(end.Sub(start)/time.Hour) + 1
	if n <= 0 || n > 24*400 {
		return template.HTML(`<p class="empty">No hourly chart for this window.</p>`)
	}
	byHour := make(map[int64]int64, len(counts))
	for _, c := range counts {
		if t, err := time.Parse(time.RFC3339, c.Key); err == nil {
			byHour[t.UTC().Truncate(time.Hour).Unix()] += c.N
		}
	}
	var max int64 = 1
	for _, v := range byHour {
		if v > max {
			max = v
		}
	}
	const height, left, bottom, top = 180, 48, 28, 8
	plotW := float64(chartWidth - left - 8)
	plotH := float64(height - bottom - top)
	colW := plotW / float64(n)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" role="img" aria-label="decisions per hour" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`,
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&sb, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"></line>`, left, height-bottom, chartWidth-8, height-bottom)
	fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end" class="axis">%d</text>`, left-4, top+10, max)
	fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end" class="axis">0</text>`, left-4, height-bottom)
	for i := 0; i < n; i++ {
		t := start.Add(time.Duration(i) * time.Hour)
		v := byHour[t.Unix()]
		if v == 0 {
			continue
		}
		h := plotH * float64(v) / float64(max)
		x := float64(left) + float64(i)*colW
		fmt.Fprintf(&sb, `<rect class="col" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="#1565c0"><title>%s: %d decisions</title></rect>`,
			x, float64(height-bottom)-h, max64(colW-0.5, 0.5), h, t.Format("2006-01-02 15:00 UTC"), v)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		t := start.Add(time.Duration(i) * time.Hour)
		anchor := "middle"
		if i == 0 {
			anchor = "start"
		} else if i == n-1 {
			anchor = "end"
		}
		fmt.Fprintf(&sb, `<text x="%.2f" y="%d" text-anchor="%s" class="axis">%s</text>`,
			float64(left)+float64(i)*colW+colW/2, height-bottom+16, anchor, t.Format("Jan 2 15:00"))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

func max64(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// bytesText is a byte count for people: 1.5 GiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
