package audittest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weightgate/weightgate/audit"
)

// GenOptions shape a generated trail.
type GenOptions struct {
	Records         int                // decision and transfer records
	Seed            uint64             // same seed, same trail, byte for byte
	Start           time.Time          // time of the first record (default 2026-03-01T00:00:00Z)
	Step            time.Duration      // between records (default 2.6 s: a million records span 30 days)
	CheckpointEvery int                // default 1000
	Key             ed25519.PrivateKey // default Key; checkpoints are always signed
	MaxFileBytes    int64              // default 64 MiB
	Subjects        int                // distinct subjects (default 500)
}

// Generate writes a trail into dir without the writer's fsyncs: the same
// format, byte for byte (a start record opening every file, the genesis
// checkpoint at seq 2, one every CheckpointEvery records, rotation by
// size), with decisions and transfers by many requesters from many
// countries, some denied, some screened. Denials come from countries of
// concern and at random; every allowed download (api resolve) is followed
// by its transfer. It is deterministic for a seed, so large trails can be
// cached. It returns the number of decision and transfer records written.
func Generate(dir string, o GenOptions) (int, error) {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Step == 0 {
		o.Step = 2600 * time.Millisecond
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 1000
	}
	if o.Key == nil {
		o.Key = Key
	}
	if o.MaxFileBytes == 0 {
		o.MaxFileBytes = 64 << 20
	}
	if o.Subjects == 0 {
		o.Subjects = 500
	}
	g := &gen{dir: dir, o: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), prev: audit.ZeroHash,
		keyID: audit.KeyID(o.Key.Public().(ed25519.PublicKey)), t: o.Start}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	if err := g.rotate("start"); err != nil {
		return 0, err
	}
	g.checkpoint() // the genesis
	n := 0
	for n < o.Records {
		dec, tr := g.request(n)
		g.record(audit.RecordDecision, dec)
		n++
		if tr != nil && n < o.Records {
			g.record(audit.RecordTransfer, tr)
			n++
		}
		if g.err != nil {
			return n, g.err
		}
	}
	if err := g.close(); err != nil {
		return n, err
	}
	head, _ := json.Marshal(map[string]any{"seq": g.seq, "hash": g.prev, "file": g.name, "time": g.t})
	return n, os.WriteFile(filepath.Join(dir, audit.HeadFileName), head, 0o640)
}

type gen struct {
	dir      string
	o        GenOptions
	rng      *rand.Rand
	seq      uint64
	prev     string
	keyID    string
	t        time.Time
	fileN    int
	name     string
	f        *os.File
	w        *bufio.Writer
	size     int64
	unsigned int
	buf      []byte
	err      error
}

var (
	genCountries = []string{"US", "US", "US", "DE", "DE", "FR", "GB", "JP", "KR", "IN", "BR", "CA", "NL", "SG", "AU", "CN", "CN", "RU", "IR", "AE"}
	genConcern   = map[string]bool{"CN": true, "RU": true, "IR": true}
	genDenyCodes = []string{"country_of_concern", "screening_hit", "no_licence", "closed_weights", "unauthenticated", "not_found"}
)

func (g *gen) request(i int) (dec, tr *audit.Record) {
	r := g.rng
	subj := r.IntN(g.o.Subjects)
	country := genCountries[subj%len(genCountries)]
	ipCountry := country
	if r.IntN(20) == 0 {
		ipCountry = genCountries[r.IntN(len(genCountries))]
	}
	model := fmt.Sprintf("lab-%02d/model-%02d", subj%7, r.IntN(30))
	entity, entityID := fmt.Sprintf("Entity %d Ltd", subj%100), fmt.Sprintf("E%04d", subj%100)
	if subj%100 >= 90 {
		entity = "" // known by id only
	}
	screening := "clear"
	switch x := r.IntN(100); {
	case x < 1:
		screening = "hit"
	case x < 4:
		screening = "review"
	case x < 5:
		screening = "off"
	}
	api := "resolve"
	if r.IntN(4) == 0 {
		api = [...]string{"model_info", "tree", "paths_info", "s3_head"}[r.IntN(4)]
	}
	d := &audit.Record{Type: audit.RecordDecision, RequestID: "req-" + strconv.Itoa(i), API: api, Method: "GET",
		Path: "/" + model + "/resolve/main/model.safetensors", RemoteAddr: "192.0.2.1:4242",
		Subject: fmt.Sprintf("user-%04d", subj), Entity: entity, EntityID: entityID, Country: country, Model: model,
		Object: fmt.Sprintf("model-%05d-of-00004.safetensors", r.IntN(4)+1), ClientIP: "192.0.2.1", IPCountry: ipCountry,
		Screening: screening, Decision: "allow", Status: 200, Code: "allowed", Reason: "permitted by the export policy"}
	switch {
	case genConcern[country] || screening == "hit":
		d.Decision, d.Status, d.Code, d.Reason = "deny", 403, "country_of_concern", "requester in a country of concern"
		if screening == "hit" {
			d.Code, d.Reason = "screening_hit", "requester matches a restricted-party list"
		}
	case r.IntN(10) == 0:
		c := genDenyCodes[r.IntN(len(genDenyCodes))]
		d.Decision, d.Status, d.Code, d.Reason = "deny", 403, c, "refused: "+c
	}
	d.Policy = nil
	if d.Decision == "allow" && api == "resolve" {
		t := *d
		t.Type, t.Bytes, t.Expected, t.Outcome, t.DurationMS = audit.RecordTransfer, int64(r.IntN(1<<30)), 0, audit.OutcomeComplete, 1500
		t.Expected = t.Bytes
		if r.IntN(50) == 0 {
			t.Outcome, t.Bytes = audit.OutcomeAborted, t.Bytes/2
		}
		tr = &t
	}
	return d, tr
}

func (g *gen) record(kind string, rec *audit.Record) {
	b, err := json.Marshal(rec)
	if err != nil {
		g.err = err
		return
	}
	g.t = g.t.Add(g.o.Step)
	g.line(kind, b)
	if g.unsigned >= g.o.CheckpointEvery {
		g.checkpoint()
	}
	if g.size >= g.o.MaxFileBytes {
		if err := g.rotate("rotate"); err != nil {
			g.err = err
		}
	}
}

func (g *gen) checkpoint() {
	sig := ed25519.Sign(g.o.Key, audit.CheckpointMessage(g.seq, g.prev))
	b, _ := json.Marshal(audit.CheckpointRecord{HeadSeq: g.seq, HeadHash: g.prev, KeyID: g.keyID, Sig: sig})
	g.line(audit.KindCheckpoint, b)
	g.unsigned = 0
}

// line writes one line as the log does: body, its SHA-256, the hash field.
func (g *gen) line(kind string, record []byte) {
	g.seq++
	b := g.buf[:0]
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, g.seq, 10)
	b = append(b, `,"time":"`...)
	b = g.t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","kind":"`...)
	b = append(b, kind...)
	b = append(b, `","prev":"`...)
	b = append(b, g.prev...)
	b = append(b, `","record":`...)
	b = append(b, record...)
	b = append(b, '}')
	sum := sha256.Sum256(b)
	g.prev = hex.EncodeToString(sum[:])
	b = append(b[:len(b)-1], `,"hash":"`...)
	b = append(b, g.prev...)
	b = append(b, "\"}\n"...)
	g.buf = b
	if kind != audit.KindCheckpoint {
		g.unsigned++
	}
	if _, err := g.w.Write(b); err != nil && g.err == nil {
		g.err = err
	}
	g.size += int64(len(b))
}

func (g *gen) rotate(reason string) error {
	prevName := g.name
	if err := g.close(); err != nil {
		return err
	}
	g.fileN++
	g.name = fmt.Sprintf("audit-%06d.jsonl", g.fileN)
	f, err := os.OpenFile(filepath.Join(g.dir, g.name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	g.f, g.w, g.size = f, bufio.NewWriterSize(f, 1<<20), 0
	b, _ := json.Marshal(audit.StartRecord{Reason: reason, File: g.name, PID: 1, PreviousFile: prevName})
	g.line(audit.KindStart, b)
	return g.err
}

func (g *gen) close() error {
	if g.f == nil {
		return nil
	}
	err := g.w.Flush()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	g.f = nil
	return err
}
