package catalog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
)

var classifiedAt = time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC)

func mustKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

func keysOf(privs ...ed25519.PrivateKey) ClassificationKeys {
	keys := ClassificationKeys{}
	for _, p := range privs {
		pub := p.Public().(ed25519.PublicKey)
		keys[KeyID(pub)] = pub
	}
	return keys
}

// mustSign is export.yaml text signed by priv for model id.
func mustSign(tb testing.TB, priv ed25519.PrivateKey, id, text string) string {
	tb.Helper()
	b, err := SignManifest([]byte(text), priv, id, "Compliance Office", classifiedAt, "ccats:G123456")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

const sha = "3f2a000000000000000000000000000000000000000000000000000000000001"

// TestCatalog_SignedClassification: with classification keys configured, a
// model is classified only by an export.yaml a configured key signed for
// that model, over exactly the fields it has; anything else leaves it
// unclassified, whatever the file says, and none of its fields (weights,
// declared hashes, revision) reaches the policy.
func TestCatalog_SignedClassification(t *testing.T) {
	compliance, other := mustKey(t), mustKey(t)
	const closed = "weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\nfiles:\n  model.safetensors: {sha256: " + sha + "}\n"
	valid := mustSign(t, compliance, "lab/m", closed)
	flipped := strings.Replace(strings.Replace(valid, "weights: closed", "weights: open", 1), "eccn: 4E091\n", "", 1)
	tests := []struct {
		name     string
		keys     ClassificationKeys
		manifest string
		want     string // "" = classified; else a part of ParseError
		signed   bool
	}{
		{"signed by a configured key", keysOf(compliance), valid, "", true},
		{"one of several keys", keysOf(other, compliance), valid, "", true},
		{"unsigned", keysOf(compliance), closed, "not signed", false},
		{"flipped to open, signature dropped", keysOf(compliance), "weights: open\ntraining_compute_flop: 3.0e26\n", "not signed", false},
		{"flipped to open, signature kept", keysOf(compliance), flipped, "does not match its fields", false},
		{"compute lowered after signing", keysOf(compliance), strings.Replace(valid, "3.0e26", "1.0e24", 1), "does not match its fields", false},
		{"field added after signing", keysOf(compliance), strings.Replace(valid, "weights: closed\n", "weights: closed\nrevision: 0123456789abcdef0123456789abcdef01234567\n", 1), "does not match its fields", false},
		{"declared hash changed after signing", keysOf(compliance), strings.Replace(valid, sha, strings.Repeat("ab", 32), 1), "does not match its fields", false},
		{"classifier changed after signing", keysOf(compliance), strings.Replace(valid, "Compliance Office", "Someone Else", 1), "does not match its fields", false},
		{"basis changed after signing", keysOf(compliance), strings.Replace(valid, "ccats:G123456", "self-assessment", 1), "does not match its fields", false},
		{"signed by a key not configured", keysOf(other), valid, "not a configured classification key", false},
		{"key id rewritten to a configured key", keysOf(other), strings.Replace(valid, KeyID(compliance.Public().(ed25519.PublicKey)), KeyID(other.Public().(ed25519.PublicKey)), 1), "does not match its fields", false},
		{"signed for another model, copied", keysOf(compliance), mustSign(t, compliance, "lab/other", "weights: open\n"), `signed for another model`, false},
		{"signed for another model, id rewritten", keysOf(compliance), strings.Replace(mustSign(t, compliance, "lab/other", "weights: open\n"), "model: lab/other", "model: lab/m", 1), "does not match its fields", false},
		{"malformed signature block", keysOf(compliance), closed + "signature: {model: lab/m}\n", "signature.classified_by is required", false},
		{"signature not base64", keysOf(compliance), strings.Replace(valid, "ed25519: ", "ed25519: '!'\n  x: ", 1), "signature.ed25519", false},
		// Without keys (a development setting) the file is believed but
		// never Signed, even when it carries a signature: nothing checked it.
		{"no keys: unsigned believed", nil, closed, "", false},
		{"no keys: signature not checked", nil, valid, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newCatalogMemStore(map[string]catalogObject{
				"lab/m/export.yaml":       {Data: tt.manifest},
				"lab/m/model.safetensors": {Data: "weights"},
			})
			c := newTestCatalog(mem.Store(), time.Minute)
			c.SetClassificationKeys(tt.keys)
			m := MustCatalogModel(t, c, "lab/m")
			pm := m.PolicyModel()
			if tt.want == "" {
				if m.Manifest == nil || !pm.Classified || m.ParseError != "" {
					t.Fatalf("unclassified (%q), want classified", m.ParseError)
				}
			} else {
				if m.Manifest != nil || pm.Classified || !strings.Contains(m.ParseError, tt.want) {
					t.Fatalf("manifest %+v, reason %q; want unclassified because %q", m.Manifest, m.ParseError, tt.want)
				}
				// None of the refused file's fields is used.
				if pm.Weights != "" || pm.TrainingComputeFLOP != 0 || pm.ECCN != "" || m.Open() {
					t.Errorf("policy model %+v carries the unverified classification", pm)
				}
				if got := c.KnownSHA256(m, "model.safetensors", m.Files[1]); got == sha {
					t.Errorf("KnownSHA256 = the unverified file's declared hash")
				}
			}
			if m.Signed != tt.signed || pm.Signed != tt.signed {
				t.Errorf("Signed = %v, policy signed = %v; want %v", m.Signed, pm.Signed, tt.signed)
			}
			if tt.signed {
				want := policy.Model{ID: "lab/m", Revision: m.Revision, Classified: true, Signed: true,
					ClassifiedBy: "Compliance Office", ClassifiedAt: "2025-01-15T09:30:00Z", ClassificationBasis: "ccats:G123456",
					Weights: "closed", TrainingComputeFLOP: 3e26, ECCN: "4E091"}
				if pm != want {
					t.Errorf("policy model = %+v, want %+v", pm, want)
				}
			} else if pm.ClassifiedBy != "" || pm.ClassifiedAt != "" || pm.ClassificationBasis != "" {
				t.Errorf("policy model %+v carries an unverified classification record", pm)
			}
		})
	}
}

// TestCatalog_Frontier_SignedOnly: the frontier from the catalog counts only
// open models whose classification a configured key signed; an unsigned
// export.yaml claiming more compute, or any model without keys, moves
// nothing.
func TestCatalog_Frontier_SignedOnly(t *testing.T) {
	priv := mustKey(t)
	mem := newCatalogMemStore(map[string]catalogObject{
		"a/signed/export.yaml":    {Data: mustSign(t, priv, "a/signed", "weights: open\ntraining_compute_flop: 1e26\n")},
		"b/unsigned/export.yaml":  {Data: "weights: open\ntraining_compute_flop: 9e27\n"},
		"c/forged/export.yaml":    {Data: strings.Replace(mustSign(t, priv, "c/forged", "weights: open\ntraining_compute_flop: 1e24\n"), "1e24", "9e27", 1)},
		"d/other-key/export.yaml": {Data: mustSign(t, mustKey(t), "d/other-key", "weights: open\ntraining_compute_flop: 9e27\n")},
	})
	for _, tt := range []struct {
		name string
		keys ClassificationKeys
		want policy.Frontier
	}{
		{"signed only", keysOf(priv), policy.Frontier{FLOP: 1e26, Source: policy.FrontierCatalog, Model: "a/signed"}},
		{"no keys: nothing is signed", nil, policy.Frontier{Source: policy.FrontierCatalog}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCatalog(mem.Store(), time.Minute)
			c.SetClassificationKeys(tt.keys)
			c.SetFrontier(Frontier{FromCatalog: true})
			got, err := c.Frontier(context.Background())
			if err != nil || got != tt.want {
				t.Errorf("Frontier = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestSignedBytes pins the canonical form, so that a change to it (which
// would invalidate every signed export.yaml) cannot pass unnoticed, and
// shows it is the RFC 8785 form: sorted keys, no white space, ES6 numbers,
// no HTML escaping.
func TestSignedBytes(t *testing.T) {
	flop, ft := 3e26, 2.5e25
	m := Manifest{Weights: "closed", TrainingComputeFLOP: &flop, ECCN: "4E091", BaseModel: "a/b", FineTuneComputeFLOP: &ft,
		SHA256: map[string]string{"z.safetensors": sha, "a.safetensors": sha}}
	s := Signature{ClassifiedBy: "A & B <compliance>", ClassifiedAt: classifiedAt, Basis: BasisSelfAssessment}
	got, err := SignedBytes("lab/m", m, s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"basis":"self-assessment","classified_at":"2025-01-15T09:30:00Z","classified_by":"A & B <compliance>","format":"weightgate.classification.v1",` +
		`"manifest":{"base_model":"a/b","eccn":"4E091","files":{"a.safetensors":"` + sha + `","z.safetensors":"` + sha + `"},` +
		`"fine_tune_compute_flop":2.5e+25,"training_compute_flop":3e+26,"weights":"closed"},"model":"lab/m"}`
	if string(got) != want {
		t.Errorf("SignedBytes =\n%s\nwant\n%s", got, want)
	}
}

// TestSignManifest_Refuses: sign refuses what the gateway could not verify.
func TestSignManifest_Refuses(t *testing.T) {
	priv := mustKey(t)
	for _, tt := range []struct {
		name, text, id, by, basis, want string
	}{
		{"bad model id", "weights: open\n", "nope", "x", BasisSelfAssessment, "model must be"},
		{"bad basis", "weights: open\n", "a/b", "x", "ccats:", "basis must be"},
		{"empty classifier", "weights: open\n", "a/b", " ", BasisSelfAssessment, "classified_by"},
		{"control character in classifier", "weights: open\n", "a/b", "x\ny", BasisSelfAssessment, "printable"},
		{"invalid manifest", "weights: maybe\n", "a/b", "x", BasisSelfAssessment, "weights must be"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SignManifest([]byte(tt.text), priv, tt.id, tt.by, classifiedAt, tt.basis)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// Re-signing replaces the block rather than adding a second one.
	once := mustSign(t, priv, "a/b", "weights: open\n")
	twice := mustSign(t, priv, "a/b", once)
	if strings.Count(twice, "signature:") != 1 {
		t.Errorf("re-signed file has %d signature blocks:\n%s", strings.Count(twice, "signature:"), twice)
	}
	m, err := ParseManifest([]byte(twice))
	if err != nil || keysOf(priv).Verify("a/b", m) != nil {
		t.Errorf("re-signed file does not verify: %v", err)
	}
	if err := keysOf(priv).Verify("a/b", Manifest{Weights: "open"}); !errors.Is(err, ErrUnsigned) {
		t.Errorf("Verify(unsigned) = %v, want ErrUnsigned", err)
	}
}
