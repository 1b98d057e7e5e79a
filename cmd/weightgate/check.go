package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/whatif"
)

// subjectFlags are check's flags describing a requester without a token.
type subjectFlags struct {
	sub, name, country, entity, entityID, hq, parentHQ string
	nationality, residence, veu                        string
	employee, attested, usPerson                       bool
}

func (f *subjectFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.country, "country", "", "requester's location, ISO 3166-1 alpha-2 or ISO 3166-2 subdivision (UA-43)")
	fs.StringVar(&f.entity, "entity", "", "entity name (screened against restricted-party lists)")
	fs.StringVar(&f.entityID, "entity-id", "", "entity id (matched against the policy registries: licences, veu, attestations)")
	fs.StringVar(&f.hq, "entity-hq", "", "entity headquarters, ISO code")
	fs.StringVar(&f.parentHQ, "parent-hq", "", "ultimate parent's headquarters, ISO code")
	fs.StringVar(&f.nationality, "nationality", "", "comma-separated ISO codes of the requester's nationalities (deemed exports)")
	fs.StringVar(&f.residence, "permanent-residence", "", "comma-separated ISO codes of the requester's permanent residences")
	fs.BoolVar(&f.employee, "employee", false, "the requester is a permanent regular employee of the entity")
	fs.BoolVar(&f.usPerson, "us-person", false, "the requester is a U.S. person (citizen, permanent resident or protected individual), in place of --nationality")
	fs.StringVar(&f.veu, "veu", "", "the entity's Data Center VEU status, uveu or nveu, as a trusted claim")
	fs.BoolVar(&f.attested, "attested", false, "the entity's weights-security posture is attested, as a trusted claim (entity-wide; the default bundle requires a per-site attestation in the registry and ignores it)")
	fs.StringVar(&f.sub, "sub", "what-if", "subject id to put in the input (screened against restricted-party ids)")
	fs.StringVar(&f.name, "name", "", "requester's name (screened against restricted-party lists)")
}

func (m *Main) check(ctx context.Context, args []string) error {
	fs := m.newFlagSet("check", "--config FILE --model ORG/NAME [--file PATH] [--time RFC3339] (--token JWT | --anonymous | --country CC [flags])")
	configPath := fs.String("config", "", "configuration file")
	model := fs.String("model", "", "model id, ORG/NAME")
	file := fs.String("file", "", "file of the model to decide for (default: its weights, as a file of kind \"weights\")")
	at := fs.String("time", "", "decide as at this RFC 3339 time (default now): licence dates and the regime in effect follow it")
	token := fs.String("token", "", "decide for the holder of this token (verified as the gateway would)")
	anonymous := fs.Bool("anonymous", false, "decide for a requester without a token")
	ipCountry := fs.String("ip-country", "", "ISO code of the country (or ISO 3166-2 subdivision) of the client address, as the location database would place it (default unknown)")
	ipTrusted := fs.Bool("ip-trusted", false, "the client address is in one of location.trusted_networks")
	var sf subjectFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*token != "", *anonymous, sf.country != ""} {
		if set {
			modes++
		}
	}
	if *configPath == "" || *model == "" || modes != 1 {
		fs.Usage()
		return errors.New("check: --config, --model and exactly one of --token, --anonymous or --country are required")
	}
	when, err := whatIfTime("check", *at)
	if err != nil {
		return err
	}
	where := policy.Request{IPTrustedNetwork: *ipTrusted}
	if *ipCountry != "" {
		if where.IPCountry = identity.NormalizeCountry(*ipCountry); where.IPCountry == "" {
			return fmt.Errorf("check: --ip-country %q is not an ISO 3166-1 alpha-2 country code or ISO 3166-2 subdivision code", *ipCountry)
		}
	}
	c, logger, err := m.whatIfComponents(ctx, *configPath)
	if err != nil {
		return err
	}
	defer c.Close()

	var subject policy.Subject
	switch {
	case *anonymous:
		subject.Anonymous = true
	case *token != "":
		if c.verifier == nil {
			return errors.New("check: --token needs an auth issuer in the configuration")
		}
		if subject, err = c.verifier.Verify(ctx, *token); err != nil {
			return fmt.Errorf("check: %w", err)
		}
	default:
		if subject, err = sf.subject(); err != nil {
			return err
		}
	}

	res, err := c.whatIf(logger).Check(ctx, subject, *model, *file, when, where)
	if err != nil {
		return err
	}
	// The licences and attestations about to expire, as at the decision's
	// time: a compliance officer running check sees them with the answer.
	expiring, err := licence.Expiring(c.expiry.Dir, when, c.expiry.Window)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if expiring == nil {
		expiring = []licence.Expiry{}
	}
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		whatif.Result
		Expiring []licence.Expiry `json:"expiring"`
	}{res, expiring}); err != nil {
		return err
	}
	if res.Decision.Code == policy.CodePolicyError {
		return errors.New("check: the policy could not be evaluated")
	}
	if !res.Decision.Allow {
		return errDenied
	}
	return nil
}

// subject builds a subject from check's flags. Unlike a token, whose bad
// codes count as unknown, a mistyped flag is an error: a what-if on a typo
// would answer a question nobody asked.
func (f *subjectFlags) subject() (policy.Subject, error) {
	s := policy.Subject{ID: f.sub, Name: f.name, Employee: f.employee, USPerson: f.usPerson, Entity: policy.Entity{Name: f.entity, ID: f.entityID, SecurityAttested: f.attested}}
	var errs []error
	code := func(flag, v string) string {
		if v == "" {
			return ""
		}
		c := identity.NormalizeCountry(v)
		if c == "" {
			errs = append(errs, fmt.Errorf("check: --%s %q is not an ISO 3166-1 alpha-2 country code or ISO 3166-2 subdivision code", flag, v))
		}
		return c
	}
	codes := func(flag, v string) []string {
		var out []string
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, code(flag, n))
			}
		}
		return out
	}
	s.Country = code("country", f.country)
	s.Entity.HQ = code("entity-hq", f.hq)
	s.Entity.ParentHQ = code("parent-hq", f.parentHQ)
	s.Nationality = codes("nationality", f.nationality)
	s.PermanentResidence = codes("permanent-residence", f.residence)
	switch f.veu {
	case "", "uveu", "nveu":
		s.Entity.VEU = f.veu
	default:
		errs = append(errs, fmt.Errorf("check: --veu must be uveu or nveu, got %q", f.veu))
	}
	return s, errors.Join(errs...)
}

// whatIfTime is a what-if command's --time: now when empty.
func whatIfTime(cmd, at string) (time.Time, error) {
	if at == "" {
		return time.Now(), nil
	}
	return timeFlag(cmd, "time", at)
}

// timeFlag parses the RFC 3339 value of a command's --flag.
func timeFlag(cmd, flag, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, fmt.Errorf("%s: --%s %q is not an RFC 3339 time (2026-06-01T00:00:00Z)", cmd, flag, v)
	}
	return t, nil
}

// whatIfComponents reads the configuration and builds what a what-if command
// decides with, logging only errors (to stderr): stdout is the answer.
func (m *Main) whatIfComponents(ctx context.Context, configPath string) (*components, *slog.Logger, error) {
	cfg, err := ReadConfigFile(configPath)
	if err != nil {
		return nil, nil, err
	}
	logger := newLogger(m.Stderr, LogConfig{Format: cfg.Log.Format, Level: "error"})
	// A what-if answer is the policy's own for that input, never one
	// remembered for another: the decision cache is the gateway's alone.
	cfg.Policy.DecisionCache = 0
	c, err := build(ctx, cfg, logger)
	return c, logger, err
}
