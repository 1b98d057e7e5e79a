package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/gateway/identity"
	"github.com/weightgate/weightgate/policy"
)

// checkResult is what check prints.
type checkResult struct {
	Decision   policy.Decision `json:"decision"`
	FileExists *bool           `json:"file_exists,omitempty"`
	Input      policy.Input    `json:"input"`
}

func (m *Main) check(ctx context.Context, args []string) error {
	fs := m.newFlagSet("check", "--config FILE --model ORG/NAME [--file PATH] (--token JWT | --anonymous | --country CC [flags])")
	configPath := fs.String("config", "", "configuration file")
	model := fs.String("model", "", "model id, ORG/NAME")
	file := fs.String("file", "", "file of the model to decide for (default: its weights, as a file of kind \"weights\")")
	token := fs.String("token", "", "decide for the holder of this token (verified as the gateway would)")
	anonymous := fs.Bool("anonymous", false, "decide for a requester without a token")
	country := fs.String("country", "", "requester's location, ISO 3166-1 alpha-2")
	entity := fs.String("entity", "", "entity name")
	entityID := fs.String("entity-id", "", "entity id")
	entityHQ := fs.String("entity-hq", "", "entity headquarters, ISO code")
	parentHQ := fs.String("parent-hq", "", "ultimate parent's headquarters, ISO code")
	nationality := fs.String("nationality", "", "comma-separated ISO codes")
	veu := fs.String("veu", "", "uveu or nveu")
	sub := fs.String("sub", "what-if", "subject id to put in the input")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*token != "", *anonymous, *country != ""} {
		if set {
			modes++
		}
	}
	if *configPath == "" || *model == "" || modes != 1 {
		fs.Usage()
		return errors.New("check: --config, --model and exactly one of --token, --anonymous or --country are required")
	}
	cfg, err := ReadConfigFile(*configPath)
	if err != nil {
		return err
	}
	logger := newLogger(m.Stderr, LogConfig{Format: cfg.Log.Format, Level: "error"})
	c, err := build(ctx, cfg, logger)
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
		subject, err = flagSubject(*sub, *country, *entity, *entityID, *entityHQ, *parentHQ, *nationality, *veu)
		if err != nil {
			return err
		}
	}

	res, err := decide(ctx, c, logger, subject, *model, *file)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
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

// flagSubject builds a subject from check's flags. Unlike a token, whose bad
// codes count as unknown, a mistyped flag is an error: a what-if on a typo
// would answer a question nobody asked.
func flagSubject(id, country, entity, entityID, hq, parentHQ, nationality, veu string) (policy.Subject, error) {
	s := policy.Subject{ID: id, Entity: policy.Entity{Name: entity, ID: entityID}}
	var errs []error
	code := func(flag, v string) string {
		if v == "" {
			return ""
		}
		c := identity.NormalizeCountry(v)
		if c == "" {
			errs = append(errs, fmt.Errorf("check: --%s %q is not an ISO 3166-1 alpha-2 country code", flag, v))
		}
		return c
	}
	s.Country = code("country", country)
	s.Entity.HQ = code("entity-hq", hq)
	s.Entity.ParentHQ = code("parent-hq", parentHQ)
	if nationality != "" {
		for _, n := range strings.Split(nationality, ",") {
			s.Nationality = append(s.Nationality, code("nationality", strings.TrimSpace(n)))
		}
	}
	switch veu {
	case "", "uveu", "nveu":
		s.Entity.VEU = veu
	default:
		errs = append(errs, fmt.Errorf("check: --veu must be uveu or nveu, got %q", veu))
	}
	return s, errors.Join(errs...)
}

// decide evaluates the policy as the gateway would for a download of file.
func decide(ctx context.Context, c *components, logger *slog.Logger, subject policy.Subject, id, file string) (checkResult, error) {
	m, err := c.catalog.Model(ctx, id)
	if errors.Is(err, gateway.ErrModelNotFound) {
		return checkResult{}, fmt.Errorf("check: model %s not found in storage", id)
	}
	if err != nil {
		return checkResult{}, fmt.Errorf("check: %w", err)
	}
	obj := policy.Object{Path: file, Kind: policy.KindWeights}
	var res checkResult
	if file != "" {
		obj.Kind = gateway.ObjectKind(file)
		f, ok := m.File(file)
		obj.Size = f.Size
		res.FileExists = &ok
	}
	res.Input = policy.Input{
		Subject: subject, Model: m.PolicyModel(), Object: obj,
		Request: policy.Request{Method: "GET", API: "check", Time: time.Now().UTC().Format(time.RFC3339)},
	}
	d, err := c.engine.Decide(ctx, res.Input)
	if err != nil {
		logger.Error("policy evaluation failed", "err", err)
	}
	res.Decision = d
	return res, nil
}
