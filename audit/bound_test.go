package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
)

// ordinaryRecord is a decision as the gateway writes one for a download.
func ordinaryRecord() *Record {
	return &Record{
		Type: RecordDecision, Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), RequestID: strings.Repeat("a", 32),
		API: "resolve", Method: "GET", Path: "/frontier-lab/big/resolve/main/model-00001-of-00002.safetensors",
		RemoteAddr: "127.0.0.1:4242", Subject: "alice", Entity: "Acme <GmbH> & Co", Country: "DE",
		Model: "frontier-lab/big", Object: "model-00001-of-00002.safetensors", ClientIP: "127.0.0.1",
		Decision: "allow", Status: 200, Code: "allowed", Reason: "Allowed: the destination is not controlled.",
		Input: &policy.Input{
			Subject: policy.Subject{ID: "alice", Country: "DE", Nationality: []string{"FR", "DE"},
				Claims: map[string]any{"sub": "alice", "groups": []any{"a", "b"}, "exp": 1.7e9}},
			Model:   policy.Model{ID: "frontier-lab/big", Classified: true, Weights: "closed"},
			Object:  policy.Object{Path: "model-00001-of-00002.safetensors", Kind: "weights", Size: 1 << 30},
			Request: policy.Request{Method: "GET", API: "resolve", Range: "bytes=0-99"},
		},
		Policy: &policy.Decision{Allow: true, Code: "allowed", Reason: "ok", Bundle: "ai-diffusion-2025"},
	}
}

// TestBoundUnchanged: a record within every bound is written exactly as
// json.Marshal writes it, with no "truncated" member.
func TestBoundUnchanged(t *testing.T) {
	for _, tt := range []struct {
		name string
		rec  *Record
	}{
		{"decision", ordinaryRecord()},
		{"transfer", &Record{Type: RecordTransfer, RequestID: "r", Path: "/a/b/resolve/main/c", Bytes: 10, Outcome: OutcomeComplete}},
		{"bare", &Record{}},
		{"fields at their bounds", &Record{Path: strings.Repeat("p", maxLongField-2), Subject: strings.Repeat("é", (maxShortField-2)/2)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bound(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("bound changed a record within its bounds:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestBoundHugeFields: a megabyte path, Range header, claim and list are cut
// to one record within MaxRecordBytes that says what was cut and how long it
// was, and the caller's record is left as it was.
func TestBoundHugeFields(t *testing.T) {
	huge := strings.Repeat("x", 900<<10)
	rec := ordinaryRecord()
	rec.Path, rec.Object, rec.Reason = "/"+huge, huge, "no such file: "+huge
	rec.Input.Object.Path = huge
	rec.Input.Request.Range = "bytes=" + huge
	rec.Input.Subject.Name = huge
	rec.Input.Subject.Claims = map[string]any{"sub": "alice", "name": huge, "groups": []any{huge, huge}}
	rec.Input.Subject.Nationality = make([]string, 10000)
	orig := *rec
	origInput := *rec.Input

	b, err := bound(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxRecordBytes {
		t.Fatalf("record is %d bytes, want at most %d", len(b), MaxRecordBytes)
	}
	var got Record
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	cut := map[string]int{}
	for _, c := range got.Truncated {
		cut[c.Field] = c.Length
	}
	for field, want := range map[string]int{
		"path": len(huge) + 1, "object": len(huge), "reason": len(rec.Reason),
		"input.object.path": len(huge), "input.request.range": len(huge) + 6, "input.subject.name": len(huge),
		"input.subject.nationality": 10000,
	} {
		if cut[field] != want {
			t.Errorf("truncated[%s] = %d, want %d (truncated: %+v)", field, cut[field], want, got.Truncated)
		}
	}
	if _, ok := cut["input.subject.claims"]; !ok {
		t.Errorf("claims not listed as truncated: %+v", got.Truncated)
	}
	if !strings.HasSuffix(got.Path, truncMark) || !strings.HasPrefix(got.Path, "/xxx") {
		t.Errorf("path = %.40q…, want a prefix of the original ending in %q", got.Path, truncMark)
	}
	if got.Input == nil || got.Input.Subject.Claims["sub"] != "alice" {
		t.Errorf("short claims lost: %+v", got.Input)
	}
	if got.Subject != "alice" || got.Model != rec.Model || got.Status != 200 {
		t.Errorf("fields within their bounds changed: %+v", got)
	}
	if !reflect.DeepEqual(*rec, orig) || !reflect.DeepEqual(*rec.Input, origInput) {
		t.Errorf("bound changed the caller's record")
	}
}

// TestBoundRandom: whatever the strings (escapes, invalid UTF-8, multi-byte
// runes, any length), the record is valid JSON of at most MaxRecordBytes,
// and every string field is within its bound.
func TestBoundRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "é", "\x00", "<", "&", "\xff", "\u2028", "漢", "\"", "\\", "\n", "🙂"}
	str := func() string {
		n := []int{0, 3, 50, 300, 2000, 40000}[rng.IntN(6)]
		var sb strings.Builder
		for range n {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for i := range 150 {
		rec := &Record{
			Type: RecordDecision, RequestID: str(), API: str(), Method: str(), Path: str(), RemoteAddr: str(),
			Subject: str(), Entity: str(), EntityID: str(), Country: str(), Model: str(), Object: str(),
			ClientIP: str(), IPCountry: str(), Screening: str(), Decision: str(), Code: str(), Reason: str(),
			ModelError: str(), Outcome: str(), Error: str(),
			Input: &policy.Input{
				Subject: policy.Subject{ID: str(), Name: str(), Country: str(), Nationality: []string{str(), str()},
					Entity: policy.Entity{Name: str(), ID: str(), HQ: str()},
					Claims: map[string]any{str(): str(), "l": []any{str(), map[string]any{str(): str()}}}},
				Model:   policy.Model{ID: str(), Revision: str(), Base: &policy.BaseModel{ID: str()}},
				Object:  policy.Object{Path: str()},
				Request: policy.Request{Range: str(), Method: str(), ClientIP: str()},
			},
			Policy: &policy.Decision{Reason: str(), Code: str(), Basis: str()},
		}
		b, err := bound(rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if len(b) > MaxRecordBytes {
			t.Fatalf("record %d is %d bytes, want at most %d", i, len(b), MaxRecordBytes)
		}
		var got Record
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("record %d does not decode: %v", i, err)
		}
		for name, s := range map[string]string{"path": got.Path, "object": got.Object, "reason": got.Reason, "error": got.Error} {
			if n := jsonLen(s); n > maxLongField {
				t.Fatalf("record %d: %s encodes in %d bytes, bound %d", i, name, n, maxLongField)
			}
		}
		for name, s := range map[string]string{"subject": got.Subject, "model": got.Model, "entity": got.Entity} {
			if n := jsonLen(s); n > maxShortField {
				t.Fatalf("record %d: %s encodes in %d bytes, bound %d", i, name, n, maxShortField)
			}
		}
	}
}

// TestLogRecordBounded: through Log.Record, a record with a 900 KB path
// takes one line of at most MaxRecordBytes plus the line's frame, and the
// chain verifies.
func TestLogRecordBounded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l := MustOpen(t, Config{Dir: dir})
	rec := ordinaryRecord()
	rec.Path = "/" + strings.Repeat("a", 900<<10)
	rec.Input.Object.Path = rec.Path
	if err := l.Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	MustClose(t, l)
	MustVerify(t, dir, VerifyOptions{})
	var found bool
	for _, e := range MustEntries(t, dir) {
		if e.Kind != RecordDecision {
			continue
		}
		found = true
		if n := len(e.Record); n > MaxRecordBytes {
			t.Errorf("record on the trail is %d bytes, want at most %d", n, MaxRecordBytes)
		}
		var got Record
		if err := json.Unmarshal(e.Record, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Truncated) == 0 {
			t.Errorf("no truncated member in %s", e.Record)
		}
	}
	if !found {
		t.Fatal("no decision record on the trail")
	}
}

// fillStrings sets every string reachable in v (through structs, pointers,
// which it allocates, and string slices, given 20 entries) to s.
func fillStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fillStrings(v.Elem(), s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillStrings(v.Field(i), s)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			l := make([]string, 20)
			for i := range l {
				l[i] = s
			}
			v.Set(reflect.ValueOf(l))
		}
	}
}

// TestBoundEveryField: every string of the policy input and output has a
// bound of its own, so that a record whose input is all at its bounds keeps
// its input; and a record with every string huge is still written within
// MaxRecordBytes. A field added to Record, policy.Input or policy.Decision
// without a bound fails here.
func TestBoundEveryField(t *testing.T) {
	huge := strings.Repeat("<", 100<<10)
	rec := &Record{Type: RecordDecision, Path: "/a/b/resolve/main/c"}
	fillStrings(reflect.ValueOf(&rec.Input).Elem(), huge)
	fillStrings(reflect.ValueOf(&rec.Policy).Elem(), huge)
	b, err := bound(rec)
	if err != nil {
		t.Fatal(err)
	}
	var got Record
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Input == nil || got.Policy == nil {
		t.Errorf("input or policy left out (truncated: %+v): some field of theirs has no bound of its own", got.Truncated)
	}

	all := &Record{}
	fillStrings(reflect.ValueOf(all).Elem(), huge)
	b, err = bound(all)
	if err != nil {
		t.Fatalf("a record with every string huge: %v", err)
	}
	if len(b) > MaxRecordBytes {
		t.Errorf("a record with every string huge is %d bytes, want at most %d", len(b), MaxRecordBytes)
	}
}
