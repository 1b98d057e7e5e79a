package opa

import (
	"fmt"
	"math"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/weightgate/weightgate/policy"
)

// inputValue converts in to the AST value Rego sees as `input`, field by
// field, so that a request costs no JSON round trip. The result equals what
// ast.InterfaceToValue gives for in's JSON encoding (nil slices and maps are
// null, as encoding/json writes them); a test holds it to that. Like
// encoding/json, it fails on a NaN or infinite number and on claims it cannot
// represent.
//
// It runs on every decision, so it allocates little: the keys are built
// once, the terms of a request come from one slice, and values drawn from a
// small closed set (country codes, enumerations) are shared terms. OPA never
// modifies the terms of an input, so sharing them across requests is safe.
func inputValue(in *policy.Input) (ast.Value, error) {
	s, m, o, r, f := &in.Subject, &in.Model, &in.Object, &in.Request, &in.Frontier
	for _, n := range [...]struct {
		name string
		v    float64
	}{
		{"model.training_compute_flop", m.TrainingComputeFLOP},
		{"model.fine_tune_compute_flop", m.FineTuneComputeFLOP},
		{"frontier.flop", f.FLOP},
		{"model.base.training_compute_flop", baseFLOP(m.Base)},
		{"subject.screening.score", s.Screening.Score},
	} {
		if math.IsNaN(n.v) || math.IsInf(n.v, 0) {
			return nil, fmt.Errorf("input: %s is %v", n.name, n.v)
		}
	}
	claims, err := claimsTerm(s.Claims)
	if err != nil {
		return nil, fmt.Errorf("input: subject.claims: %w", err)
	}

	var t terms
	base := ast.InternedNullTerm
	if b := m.Base; b != nil {
		base = ast.NewTerm(ast.NewObject(
			[2]*ast.Term{keyID, t.str(b.ID)},
			[2]*ast.Term{keyFound, ast.InternedTerm(b.Found)},
			[2]*ast.Term{keyClassified, ast.InternedTerm(b.Classified)},
			[2]*ast.Term{keyWeights, t.str(b.Weights)},
			[2]*ast.Term{keyTrainingComputeFLOP, t.num(b.TrainingComputeFLOP)},
			[2]*ast.Term{keyECCN, t.str(b.ECCN)},
		))
	}
	sc := &s.Screening
	obj := ast.NewObject(
		[2]*ast.Term{keySubject, ast.NewTerm(ast.NewObject(
			[2]*ast.Term{keyAnonymous, ast.InternedTerm(s.Anonymous)},
			[2]*ast.Term{keyID, t.str(s.ID)},
			[2]*ast.Term{keyName, t.str(s.Name)},
			[2]*ast.Term{keyCountry, t.str(s.Country)},
			[2]*ast.Term{keyNationality, t.strings(s.Nationality)},
			[2]*ast.Term{keyPermanentResidence, t.strings(s.PermanentResidence)},
			[2]*ast.Term{keyEmployee, ast.InternedTerm(s.Employee)},
			[2]*ast.Term{keyUSPerson, ast.InternedTerm(s.USPerson)},
			[2]*ast.Term{keyEntity, ast.NewTerm(ast.NewObject(
				[2]*ast.Term{keyName, t.str(s.Entity.Name)},
				[2]*ast.Term{keyID, t.str(s.Entity.ID)},
				[2]*ast.Term{keyHQ, t.str(s.Entity.HQ)},
				[2]*ast.Term{keyParentHQ, t.str(s.Entity.ParentHQ)},
				[2]*ast.Term{keyVEU, t.str(s.Entity.VEU)},
				[2]*ast.Term{keySecurityAttested, ast.InternedTerm(s.Entity.SecurityAttested)},
			))},
			[2]*ast.Term{keyClaims, claims},
			[2]*ast.Term{keyScreening, ast.NewTerm(ast.NewObject(
				[2]*ast.Term{keyStatus, t.str(sc.Status)},
				[2]*ast.Term{keyList, t.str(sc.List)},
				[2]*ast.Term{keyEntry, t.str(sc.Entry)},
				[2]*ast.Term{keyName, t.str(sc.Name)},
				[2]*ast.Term{keyField, t.str(sc.Field)},
				[2]*ast.Term{keyScore, t.num(sc.Score)},
			))},
		))},
		[2]*ast.Term{keyModel, ast.NewTerm(ast.NewObject(
			[2]*ast.Term{keyID, t.str(m.ID)},
			[2]*ast.Term{keyClassified, ast.InternedTerm(m.Classified)},
			[2]*ast.Term{keySigned, ast.InternedTerm(m.Signed)},
			[2]*ast.Term{keyClassifiedBy, t.str(m.ClassifiedBy)},
			[2]*ast.Term{keyClassifiedAt, t.str(m.ClassifiedAt)},
			[2]*ast.Term{keyClassificationBasis, t.str(m.ClassificationBasis)},
			[2]*ast.Term{keyWeights, t.str(m.Weights)},
			[2]*ast.Term{keyTrainingComputeFLOP, t.num(m.TrainingComputeFLOP)},
			[2]*ast.Term{keyECCN, t.str(m.ECCN)},
			[2]*ast.Term{keyRevision, t.str(m.Revision)},
			[2]*ast.Term{keyBaseModel, t.str(m.BaseModel)},
			[2]*ast.Term{keyFineTuneComputeFLOP, t.num(m.FineTuneComputeFLOP)},
			[2]*ast.Term{keyBase, base},
		))},
		[2]*ast.Term{keyObject, ast.NewTerm(ast.NewObject(
			[2]*ast.Term{keyPath, t.str(o.Path)},
			[2]*ast.Term{keyKind, t.str(o.Kind)},
			[2]*ast.Term{keySize, ast.InternedTerm(o.Size)},
		))},
		[2]*ast.Term{keyRequest, ast.NewTerm(ast.NewObject(
			[2]*ast.Term{keyMethod, t.str(r.Method)},
			[2]*ast.Term{keyAPI, t.str(r.API)},
			[2]*ast.Term{keyRange, t.str(r.Range)},
			[2]*ast.Term{keyRemoteAddr, t.str(r.RemoteAddr)},
			[2]*ast.Term{keyTime, t.str(r.Time)},
			[2]*ast.Term{keyClientIP, t.str(r.ClientIP)},
			[2]*ast.Term{keyClientIPVia, t.str(r.ClientIPVia)},
			[2]*ast.Term{keyIPCountry, t.str(r.IPCountry)},
			[2]*ast.Term{keyIPTrustedNetwork, ast.InternedTerm(r.IPTrustedNetwork)},
		))},
		[2]*ast.Term{keyFrontier, ast.NewTerm(ast.NewObject(
			[2]*ast.Term{keyFLOP, t.num(f.FLOP)},
			[2]*ast.Term{keySource, t.str(f.Source)},
			[2]*ast.Term{keyModel, t.str(f.Model)},
		))},
	)
	// As encoding/json writes it (omitempty): absent when no count is kept.
	if len(in.LicenceReleases) > 0 {
		counts := ast.NewObject()
		for id, n := range in.LicenceReleases {
			counts.Insert(ast.StringTerm(id), ast.IntNumberTerm(n))
		}
		obj.Insert(keyLicenceReleases, ast.NewTerm(counts))
	}
	return obj, nil
}

func baseFLOP(b *policy.BaseModel) float64 {
	if b == nil {
		return 0
	}
	return b.TrainingComputeFLOP
}

// The input's keys, built once.
var (
	keySubject             = ast.StringTerm("subject")
	keyAnonymous           = ast.StringTerm("anonymous")
	keyID                  = ast.StringTerm("id")
	keyName                = ast.StringTerm("name")
	keyCountry             = ast.StringTerm("country")
	keyNationality         = ast.StringTerm("nationality")
	keyPermanentResidence  = ast.StringTerm("permanent_residence")
	keyEmployee            = ast.StringTerm("employee")
	keyUSPerson            = ast.StringTerm("us_person")
	keyEntity              = ast.StringTerm("entity")
	keyHQ                  = ast.StringTerm("hq")
	keyParentHQ            = ast.StringTerm("parent_hq")
	keyVEU                 = ast.StringTerm("veu")
	keySecurityAttested    = ast.StringTerm("security_attested")
	keyClaims              = ast.StringTerm("claims")
	keyScreening           = ast.StringTerm("screening")
	keyStatus              = ast.StringTerm("status")
	keyList                = ast.StringTerm("list")
	keyEntry               = ast.StringTerm("entry")
	keyField               = ast.StringTerm("field")
	keyScore               = ast.StringTerm("score")
	keyModel               = ast.StringTerm("model")
	keyClassified          = ast.StringTerm("classified")
	keySigned              = ast.StringTerm("signed")
	keyClassifiedBy        = ast.StringTerm("classified_by")
	keyClassifiedAt        = ast.StringTerm("classified_at")
	keyClassificationBasis = ast.StringTerm("classification_basis")
	keyWeights             = ast.StringTerm("weights")
	keyTrainingComputeFLOP = ast.StringTerm("training_compute_flop")
	keyECCN                = ast.StringTerm("eccn")
	keyRevision            = ast.StringTerm("revision")
	keyBaseModel           = ast.StringTerm("base_model")
	keyFineTuneComputeFLOP = ast.StringTerm("fine_tune_compute_flop")
	keyBase                = ast.StringTerm("base")
	keyFound               = ast.StringTerm("found")
	keyObject              = ast.StringTerm("object")
	keyPath                = ast.StringTerm("path")
	keyKind                = ast.StringTerm("kind")
	keySize                = ast.StringTerm("size")
	keyRequest             = ast.StringTerm("request")
	keyMethod              = ast.StringTerm("method")
	keyAPI                 = ast.StringTerm("api")
	keyRange               = ast.StringTerm("range")
	keyRemoteAddr          = ast.StringTerm("remote_addr")
	keyTime                = ast.StringTerm("time")
	keyClientIP            = ast.StringTerm("client_ip")
	keyClientIPVia         = ast.StringTerm("client_ip_via")
	keyIPCountry           = ast.StringTerm("ip_country")
	keyIPTrustedNetwork    = ast.StringTerm("ip_trusted_network")
	keyFrontier            = ast.StringTerm("frontier")
	keyFLOP                = ast.StringTerm("flop")
	keySource              = ast.StringTerm("source")
	keyLicenceReleases     = ast.StringTerm("licence_releases")
)

// sharedStrings holds a term for each string an input field commonly takes
// from a closed set: every two-letter upper-case code (countries) and the
// enumerations of input.go. It is only read after package initialisation.
var sharedStrings = map[string]*ast.Term{}

func init() {
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			c := string([]rune{a, b})
			sharedStrings[c] = ast.StringTerm(c)
		}
	}
	for _, v := range []string{
		"invalid", "open", "closed", policy.KindWeights, policy.KindOther, "4E091", "EAR99",
		"GET", "HEAD", "resolve", "check", "peer", "x-forwarded-for", "forwarded", "malformed", policy.ScreeningOff, policy.ScreeningClear, policy.ScreeningHit, policy.ScreeningReview, "entity.name", "entity.id", "subject.name", "subject.id",
		"uveu", "nveu", policy.FrontierNone, policy.FrontierConfigured, policy.FrontierCatalog,
	} {
		sharedStrings[v] = ast.StringTerm(v)
	}
}

// zeroNumber is the term of the number 0 (strconv formats +0 as "0").
var zeroNumber = ast.FloatNumberTerm(0)

// terms hands out the terms of one input from a few shared allocations.
type terms struct {
	buf []ast.Term
}

// next returns a fresh term from t's buffer.
func (t *terms) next() *ast.Term {
	if len(t.buf) == 0 {
		t.buf = make([]ast.Term, 24)
	}
	x := &t.buf[0]
	t.buf = t.buf[1:]
	return x
}

// str is the term of s: a shared one for "" and for the values of
// sharedStrings.
func (t *terms) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedTerm("")
	}
	if len(s) <= 16 {
		if x, ok := sharedStrings[s]; ok {
			return x
		}
	}
	x := t.next()
	x.Value = ast.String(s)
	return x
}

// num is the term of f as ast.FloatNumberTerm builds it. f is finite.
func (t *terms) num(f float64) *ast.Term {
	if f == 0 && !math.Signbit(f) {
		return zeroNumber
	}
	x := t.next()
	x.Value = ast.Number(strconv.FormatFloat(f, 'g', -1, 64))
	return x
}

// strings is the array of ss, or null when ss is nil (as encoding/json
// writes a nil slice).
func (t *terms) strings(ss []string) *ast.Term {
	if ss == nil {
		return ast.InternedNullTerm
	}
	elems := make([]*ast.Term, len(ss))
	for i, s := range ss {
		elems[i] = t.str(s)
	}
	return ast.ArrayTerm(elems...)
}

// claimsTerm converts a token's claims; values that are not plain JSON types
// take OPA's JSON round trip.
func claimsTerm(claims map[string]any) (*ast.Term, error) {
	if claims == nil {
		return ast.InternedNullTerm, nil
	}
	v, err := ast.InterfaceToValue(claims)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(v), nil
}
