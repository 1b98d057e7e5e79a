package policy

import (
	"fmt"
	"math"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputValue converts in to the AST value Rego sees as `input`, field by
// field, so that a request costs no JSON round trip. The result equals what
// ast.InterfaceToValue gives for in's JSON encoding (nil slices and maps are
// null, as encoding/json writes them); a test holds it to that. Like
// encoding/json, it fails on a NaN or infinite number and on claims it cannot
// represent.
func inputValue(in *Input) (ast.Value, error) {
	s, m, o, r, f := &in.Subject, &in.Model, &in.Object, &in.Request, &in.Frontier
	for _, n := range []struct {
		name string
		v    float64
	}{
		{"model.training_compute_flop", m.TrainingComputeFLOP},
		{"model.fine_tune_compute_flop", m.FineTuneComputeFLOP},
		{"frontier.flop", f.FLOP},
	} {
		if math.IsNaN(n.v) || math.IsInf(n.v, 0) {
			return nil, fmt.Errorf("input: %s is %v", n.name, n.v)
		}
	}
	base := ast.InternedNullTerm
	if b := m.Base; b != nil {
		if math.IsNaN(b.TrainingComputeFLOP) || math.IsInf(b.TrainingComputeFLOP, 0) {
			return nil, fmt.Errorf("input: model.base.training_compute_flop is %v", b.TrainingComputeFLOP)
		}
		base = ast.NewTerm(obj(
			"id", str(b.ID),
			"found", ast.InternedTerm(b.Found),
			"classified", ast.InternedTerm(b.Classified),
			"weights", str(b.Weights),
			"training_compute_flop", ast.FloatNumberTerm(b.TrainingComputeFLOP),
			"eccn", str(b.ECCN),
		))
	}
	sc := &s.Screening
	if math.IsNaN(sc.Score) || math.IsInf(sc.Score, 0) {
		return nil, fmt.Errorf("input: subject.screening.score is %v", sc.Score)
	}
	claims, err := claimsTerm(s.Claims)
	if err != nil {
		return nil, fmt.Errorf("input: subject.claims: %w", err)
	}
	return obj(
		"subject", ast.NewTerm(obj(
			"anonymous", ast.InternedTerm(s.Anonymous),
			"id", str(s.ID),
			"name", str(s.Name),
			"country", str(s.Country),
			"nationality", stringArray(s.Nationality),
			"permanent_residence", stringArray(s.PermanentResidence),
			"employee", ast.InternedTerm(s.Employee),
			"entity", ast.NewTerm(obj(
				"name", str(s.Entity.Name),
				"id", str(s.Entity.ID),
				"hq", str(s.Entity.HQ),
				"parent_hq", str(s.Entity.ParentHQ),
				"veu", str(s.Entity.VEU),
				"security_attested", ast.InternedTerm(s.Entity.SecurityAttested),
			)),
			"claims", claims,
			"screening", ast.NewTerm(obj(
				"status", str(sc.Status),
				"list", str(sc.List),
				"entry", str(sc.Entry),
				"name", str(sc.Name),
				"field", str(sc.Field),
				"score", ast.FloatNumberTerm(sc.Score),
			)),
		)),
		"model", ast.NewTerm(obj(
			"id", str(m.ID),
			"classified", ast.InternedTerm(m.Classified),
			"weights", str(m.Weights),
			"training_compute_flop", ast.FloatNumberTerm(m.TrainingComputeFLOP),
			"eccn", str(m.ECCN),
			"revision", str(m.Revision),
			"base_model", str(m.BaseModel),
			"fine_tune_compute_flop", ast.FloatNumberTerm(m.FineTuneComputeFLOP),
			"base", base,
		)),
		"object", ast.NewTerm(obj(
			"path", str(o.Path),
			"kind", str(o.Kind),
			"size", ast.InternedTerm(o.Size),
		)),
		"request", ast.NewTerm(obj(
			"method", str(r.Method),
			"api", str(r.API),
			"range", str(r.Range),
			"remote_addr", str(r.RemoteAddr),
			"time", str(r.Time),
			"client_ip", str(r.ClientIP),
			"client_ip_via", str(r.ClientIPVia),
			"ip_country", str(r.IPCountry),
			"ip_trusted_network", ast.InternedTerm(r.IPTrustedNetwork),
		)),
		"frontier", ast.NewTerm(obj(
			"flop", ast.FloatNumberTerm(f.FLOP),
			"source", str(f.Source),
			"model", str(f.Model),
		)),
	), nil
}

// keyTerms holds the input's keys as terms, built once: the map is only read
// after package initialisation, and OPA does not modify the terms of an input.
var keyTerms = map[string]*ast.Term{}

func init() {
	for _, k := range []string{
		"subject", "anonymous", "id", "country", "nationality", "entity", "name", "hq",
		"parent_hq", "veu", "claims", "model", "classified", "weights",
		"training_compute_flop", "eccn", "revision", "object", "path", "kind", "size",
		"request", "method", "api", "range", "remote_addr", "time",
		"permanent_residence", "employee", "security_attested", "base_model",
		"fine_tune_compute_flop", "base", "found", "frontier", "flop", "source",
		"screening", "status", "list", "entry", "field", "score", "client_ip",
		"client_ip_via", "ip_country", "ip_trusted_network",
	} {
		keyTerms[k] = ast.StringTerm(k)
	}
}

// obj builds an object from alternating string keys and *ast.Term values.
func obj(kv ...any) ast.Object {
	o := ast.NewObjectWithCapacity(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := keyTerms[kv[i].(string)]
		if !ok {
			k = ast.StringTerm(kv[i].(string))
		}
		o.Insert(k, kv[i+1].(*ast.Term))
	}
	return o
}

func str(s string) *ast.Term {
	if s == "" {
		return ast.InternedTerm("")
	}
	return ast.StringTerm(s)
}

func stringArray(ss []string) *ast.Term {
	if ss == nil {
		return ast.InternedNullTerm
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = str(s)
	}
	return ast.ArrayTerm(terms...)
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
