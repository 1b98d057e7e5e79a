package catalog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/weightgate/weightgate/identity"
	"go.yaml.in/yaml/v3"
)

// SignatureFormat names the canonical form a classification signature is
// made over; a later form gets a new name rather than a new meaning.
const SignatureFormat = "weightgate.classification.v1"

// BasisSelfAssessment is the basis of a classification the exporter made
// itself, without a Commodity Classification (CCATS) from BIS.
const BasisSelfAssessment = "self-assessment"

// Signature is the signature: block of export.yaml: who classified which
// model, when and on what basis, and a compliance key's Ed25519 signature
// over that and every other field of the file (SignedBytes).
type Signature struct {
	Model        string // the model id the classification was made for
	ClassifiedBy string
	ClassifiedAt time.Time // UTC, whole seconds
	Basis        string    // "self-assessment" or "ccats:NUMBER"
	Key          string    // "sha256:" + hex of the public key's PKIX DER (KeyID)
	Ed25519      []byte    // 64 bytes
}

// ccatsBasis is a CCATS basis. BIS's number format is not fixed by the EAR
// (15 CFR 748.3), so any short alphanumeric number is taken as written.
var ccatsBasis = regexp.MustCompile(`^ccats:[A-Za-z0-9][A-Za-z0-9-]{0,31}$`)

// CheckBasis reports whether b is a basis a classification may give.
func CheckBasis(b string) error {
	if b == BasisSelfAssessment || ccatsBasis.MatchString(b) {
		return nil
	}
	return fmt.Errorf("basis must be %q or \"ccats:NUMBER\" (letters, digits, dashes), got %q", BasisSelfAssessment, b)
}

// checkClassifiedBy refuses a name that is empty, too long, or holds
// control or separator characters that would make the record print badly.
func checkClassifiedBy(s string) error {
	if strings.TrimSpace(s) == "" || len(s) > 200 {
		return errors.New("classified_by must be a name of 1 to 200 bytes")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("classified_by must be printable text, got %q", s)
		}
	}
	return nil
}

// canonical is the document a signature is made over, serialised by
// encoding/json. Its keys are declared in sorted order, every string is
// checked printable (no U+2028/2029), HTML escaping is off and numbers are
// float64 (ES6 formatting, which encoding/json follows), so the bytes are
// those RFC 8785 (JCS) gives for the same document: another implementation
// can reproduce them. Written here because no maintained Go JCS library is
// among the module's dependencies and the document's shape is fixed.
type canonical struct {
	Basis        string          `json:"basis"`
	ClassifiedAt string          `json:"classified_at"`
	ClassifiedBy string          `json:"classified_by"`
	Format       string          `json:"format"`
	Manifest     canonicalFields `json:"manifest"`
	Model        string          `json:"model"`
}

// canonicalFields are the classification fields of export.yaml; an absent
// field is left out.
type canonicalFields struct {
	BaseModel           string            `json:"base_model,omitempty"`
	ECCN                string            `json:"eccn,omitempty"`
	Files               map[string]string `json:"files,omitempty"` // encoding/json sorts map keys
	FineTuneComputeFLOP *float64          `json:"fine_tune_compute_flop,omitempty"`
	Revision            string            `json:"revision,omitempty"`
	TrainingComputeFLOP *float64          `json:"training_compute_flop,omitempty"`
	Weights             string            `json:"weights"`
}

// SignedBytes is the canonical form of m's classification for model id, by
// s's classifier, time and basis: what s.Ed25519 signs. Every field of
// export.yaml but the signature itself is in it, so that no field can be
// changed, added or removed after signing.
func SignedBytes(id string, m Manifest, s Signature) ([]byte, error) {
	doc := canonical{
		Basis: s.Basis, ClassifiedAt: s.ClassifiedAt.UTC().Format(time.RFC3339), ClassifiedBy: s.ClassifiedBy,
		Format: SignatureFormat, Model: id,
		Manifest: canonicalFields{
			BaseModel: m.BaseModel, ECCN: m.ECCN, Files: m.SHA256, FineTuneComputeFLOP: m.FineTuneComputeFLOP,
			Revision: m.Revision, TrainingComputeFLOP: m.TrainingComputeFLOP, Weights: m.Weights,
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// KeyID names a public key: "sha256:" and the hex SHA-256 of its PKIX DER.
func KeyID(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ClassificationKeys are the compliance keys whose signatures classify a
// model, by KeyID.
type ClassificationKeys map[string]ed25519.PublicKey

// LoadClassificationKeys reads each file, a PEM "PUBLIC KEY" (PKIX) holding
// an Ed25519 key.
func LoadClassificationKeys(paths []string) (ClassificationKeys, error) {
	keys := ClassificationKeys{}
	for _, p := range paths {
		pub, err := loadEd25519Public(p)
		if err != nil {
			return nil, err
		}
		keys[KeyID(pub)] = pub
	}
	return keys, nil
}

func loadEd25519Public(path string) (ed25519.PublicKey, error) {
	k, err := identity.LoadPublicKeyPEM(path)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not an Ed25519 key", path, k)
	}
	return pub, nil
}

// LoadClassificationPrivateKey reads a PEM private key holding an Ed25519
// key: the compliance key classify sign signs with.
func LoadClassificationPrivateKey(path string) (ed25519.PrivateKey, error) {
	k, err := identity.LoadPrivateKeyPEM(path)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not an Ed25519 key", path, k)
	}
	return priv, nil
}

// ErrUnsigned is Verify's error for a manifest with no signature: block.
var ErrUnsigned = errors.New("export.yaml is not signed")

// Verify checks that m carries a signature by one of keys over m's fields
// for model id. Any other outcome is an error that says why: no signature,
// a key that is not configured, a signature made for another model, or one
// that does not match the fields (changed after signing).
func (keys ClassificationKeys) Verify(id string, m Manifest) error {
	s := m.Signature
	if s == nil {
		return ErrUnsigned
	}
	pub, ok := keys[s.Key]
	if !ok {
		return fmt.Errorf("export.yaml is signed by key %s, which is not a configured classification key", s.Key)
	}
	if s.Model != id {
		// The other model's id is left out: the reason reaches the
		// model API, and that model may be hidden from its reader.
		return fmt.Errorf("export.yaml is signed for another model, not %s (copied?)", id)
	}
	msg, err := SignedBytes(id, m, *s)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, s.Ed25519) {
		return errors.New("export.yaml's signature does not match its fields (changed after signing, or a forged signature)")
	}
	return nil
}

// IDs are the configured keys' ids, sorted.
func (keys ClassificationKeys) IDs() []string {
	out := make([]string, 0, len(keys))
	for id := range keys {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// SignManifest signs the export.yaml in b as the classification of model id
// by, at, on basis, with priv, and returns the file with its signature:
// block set (replacing any earlier one). The rest of the file is kept as
// the YAML encoder re-emits it, comments included.
func SignManifest(b []byte, priv ed25519.PrivateKey, id, by string, at time.Time, basis string) ([]byte, error) {
	if !ValidModelID(id) {
		return nil, fmt.Errorf("model must be an id ORG/NAME, got %q", id)
	}
	if err := checkClassifiedBy(by); err != nil {
		return nil, err
	}
	if err := CheckBasis(basis); err != nil {
		return nil, err
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, err
	}
	s := Signature{
		Model: id, ClassifiedBy: by, ClassifiedAt: at.UTC().Truncate(time.Second), Basis: basis,
		Key: KeyID(priv.Public().(ed25519.PublicKey)),
	}
	msg, err := SignedBytes(id, m, s)
	if err != nil {
		return nil, err
	}
	s.Ed25519 = ed25519.Sign(priv, msg)

	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == signatureKey {
			root.Content = slices.Delete(root.Content, i, i+2)
			break
		}
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	block := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("model"), str(s.Model),
		str("classified_by"), str(s.ClassifiedBy),
		str("classified_at"), str(s.ClassifiedAt.Format(time.RFC3339)),
		str("basis"), str(s.Basis),
		str("key"), str(s.Key),
		str("ed25519"), str(base64.StdEncoding.EncodeToString(s.Ed25519)),
	}}
	root.Content = append(root.Content, str(signatureKey), block)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// signatureKey is the key of export.yaml's signature block.
const signatureKey = "signature"

// parseSignature parses the signature: block: a mapping with exactly the
// keys model, classified_by, classified_at, basis, key and ed25519.
func parseSignature(v *yaml.Node) (*Signature, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("export.yaml line %d: signature must be a mapping, got %s", v.Line, describeNode(v))
	}
	s := &Signature{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return nil, fmt.Errorf("export.yaml line %d: signature: keys must be strings", k.Line)
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("export.yaml line %d: signature: duplicate key %q", k.Line, k.Value)
		}
		seen[k.Value] = true
		str, err := scalarString(val, "signature."+k.Value)
		if err != nil {
			return nil, err
		}
		switch k.Value {
		case "model":
			if !ValidModelID(str) {
				return nil, fmt.Errorf("export.yaml line %d: signature.model must be a model id ORG/NAME, got %q", val.Line, str)
			}
			s.Model = str
		case "classified_by":
			if err := checkClassifiedBy(str); err != nil {
				return nil, fmt.Errorf("export.yaml line %d: signature.%w", val.Line, err)
			}
			s.ClassifiedBy = str
		case "classified_at":
			t, err := time.Parse(time.RFC3339, str)
			if err != nil || t.Nanosecond() != 0 || t.Format(time.RFC3339) != str || t.Location() != time.UTC {
				return nil, fmt.Errorf("export.yaml line %d: signature.classified_at must be RFC 3339 UTC in whole seconds (2025-01-15T09:30:00Z), got %q", val.Line, str)
			}
			s.ClassifiedAt = t
		case "basis":
			if err := CheckBasis(str); err != nil {
				return nil, fmt.Errorf("export.yaml line %d: signature.%w", val.Line, err)
			}
			s.Basis = str
		case "key":
			if len(str) != len("sha256:")+64 || !strings.HasPrefix(str, "sha256:") || !hex64lower.MatchString(str[len("sha256:"):]) {
				return nil, fmt.Errorf("export.yaml line %d: signature.key must be sha256: and 64 lowercase hex digits, got %q", val.Line, str)
			}
			s.Key = str
		case "ed25519":
			sig, err := base64.StdEncoding.Strict().DecodeString(str)
			if err != nil || len(sig) != ed25519.SignatureSize {
				return nil, fmt.Errorf("export.yaml line %d: signature.ed25519 must be a %d-byte signature in base64", val.Line, ed25519.SignatureSize)
			}
			s.Ed25519 = sig
		default:
			return nil, fmt.Errorf("export.yaml line %d: signature: unknown key %q", k.Line, k.Value)
		}
	}
	for _, k := range []string{"model", "classified_by", "classified_at", "basis", "key", "ed25519"} {
		if !seen[k] {
			return nil, fmt.Errorf("export.yaml line %d: signature.%s is required", v.Line, k)
		}
	}
	return s, nil
}

var hex64lower = regexp.MustCompile(`^[0-9a-f]{64}$`)
