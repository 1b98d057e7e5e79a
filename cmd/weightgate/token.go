package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/weightgate/weightgate/identity"
)

func (m *Main) token(args []string) error {
	fs := m.newFlagSet("token", "--key PEM --sub ID [flags]")
	var c identity.TokenClaims
	key := fs.String("key", "", "private key PEM (Ed25519, EC P-256 or RSA) to sign with, e.g. testdata/keys/dev-ed25519.pem")
	kid := fs.String("kid", "", "key id to put in the token header")
	nationality := fs.String("nationality", "", "comma-separated ISO 3166-1 alpha-2 codes")
	residence := fs.String("permanent-residence", "", "comma-separated ISO 3166-1 alpha-2 codes of the requester's permanent residence")
	fs.StringVar(&c.Subject, "sub", "", "subject (requester id)")
	fs.StringVar(&c.Name, "name", "", "requester's name (screened against restricted-party lists)")
	fs.StringVar(&c.Country, "country", "", "ISO code of where the requester is (the export destination); a subdivision as ISO 3166-2 (UA-43)")
	fs.StringVar(&c.Entity, "entity", "", "name of the entity the requester acts for")
	fs.StringVar(&c.EntityID, "entity-id", "", "id of that entity")
	fs.StringVar(&c.EntityHQ, "entity-hq", "", "ISO code of the entity's headquarters")
	fs.StringVar(&c.ParentHQ, "parent-hq", "", "ISO code of the ultimate parent's headquarters (the entity's own when it has no parent); controlled weights need it")
	fs.BoolVar(&c.Employee, "employee", false, "the requester is a permanent regular employee of the entity")
	fs.BoolVar(&c.USPerson, "us-person", false, "the requester is a U.S. person (citizen, permanent resident or protected individual); controlled weights need this or --nationality")
	fs.StringVar(&c.VEU, "veu", "", "entity's validated end-user status, uveu or nveu (used only where auth.trusted_claims lists veu)")
	fs.BoolVar(&c.SecurityAttested, "security-attested", false, "the entity's weights security is attested (used only where auth.trusted_claims lists security_attested)")
	fs.DurationVar(&c.TTL, "ttl", identity.DefaultTokenTTL, "lifetime")
	roles := fs.String("roles", "", "comma-separated roles, written as a list under the roles claim (weightgate-auditor lets the token into the console)")
	fs.StringVar(&c.Issuer, "iss", "weightgate-dev", "issuer")
	fs.StringVar(&c.Audience, "aud", "weightgate", "audience")
	hf := fs.Bool("hf", false, "print the token as hf_<JWT>, the form Hugging Face clients (HF_TOKEN, @huggingface/hub's accessToken) accept")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *key == "" || c.Subject == "" {
		fs.Usage()
		return errors.New("token: --key and --sub are required")
	}
	if *nationality != "" {
		c.Nationality = strings.Split(*nationality, ",")
	}
	if *residence != "" {
		c.PermanentResidence = strings.Split(*residence, ",")
	}
	if *roles != "" {
		c.Roles = strings.Split(*roles, ",")
	}
	if c.VEU != "" && c.VEU != "uveu" && c.VEU != "nveu" {
		return fmt.Errorf("token: --veu must be uveu or nveu, got %q", c.VEU)
	}
	priv, err := identity.LoadPrivateKeyPEM(*key)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	tok, err := identity.Sign(priv, *kid, c)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if *hf {
		tok = identity.HFToken(tok)
	}
	fmt.Fprintln(m.Stdout, tok)
	return nil
}
