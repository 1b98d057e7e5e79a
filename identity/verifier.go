// Package identity turns bearer tokens into a policy.Subject.
//
// A Verifier trusts a fixed set of issuers (Config). For each token it picks
// the issuer by the unverified iss claim, checks that the header alg is one
// the issuer allows, finds the key (by kid, from PEM files or a refreshed
// JWKS), verifies the signature and the registered claims with golang-jwt,
// and maps the remaining claims into a policy.Subject. Every failure is an
// *Error with Code "invalid_token" and a stable Reason.
//
// The Subject's normalised fields (ID, Country, Nationality,
// PermanentResidence, Employee, Entity) are what policies should use. The
// entity statuses Entity.VEU and Entity.SecurityAttested are taken from a
// token only when Config.TrustedClaims lists them. Subject.Claims carries
// every verified claim as decoded JSON, under its original name and
// unnormalised, trusted or not, except the time claims exp, nbf and iat; it
// never contains the token itself.
//
// The package also signs tokens (Sign) for the `weightgate token` command and
// loads PEM keys.
package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"

	"github.com/weightgate/weightgate/policy"
)

// MaxTokenSize is the longest token Verify decodes; longer ones are
// ReasonMalformedToken without being parsed.
const MaxTokenSize = 16 << 10

// Option adjusts a Verifier built by New.
type Option func(*options)

type options struct {
	now        func() time.Time
	httpClient *http.Client
}

// WithClock makes the Verifier read the time from now instead of time.Now,
// for tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithHTTPClient sets the client used to fetch JWKS URLs. The default is a
// client with a DefaultJWKSTimeout timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) { o.httpClient = c }
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	issuers map[string]*issuer
	now     func() time.Time
	logger  *slog.Logger
	devKey  bool

	cancel    context.CancelFunc
	closeOnce sync.Once

	// verified remembers tokens that passed verification, by their sha256,
	// so that the many requests one download makes (a HEAD and a GET per
	// shard, range requests) do not each parse the token twice and check
	// its signature: about 70 µs of CPU a request with Ed25519. An entry
	// is used only until the token expires (exp + leeway), at most for
	// TokenCacheTTL, and only while every key that could have verified it
	// is still one the issuer offers for it: a key withdrawn from a JWKS
	// stops verifying at once.
	verified *expirable.LRU[[sha256.Size]byte, verifiedToken]
}

// verifiedToken is a remembered verification.
type verifiedToken struct {
	subject policy.Subject // shared: callers must not modify its slices or Claims
	until   time.Time      // exp + leeway
	issuer  *issuer
	header  map[string]any     // the token's header, to look its keys up again
	keys    []crypto.PublicKey // the keys it was checked against
	binding KeyBinding         // the issuer and the key that verified it
}

// stillValid reports whether vt may stand for a verification at now: the
// token has not expired and its issuer still offers every key it was checked
// against.
func (vt verifiedToken) stillValid(ctx context.Context, now time.Time) bool {
	if !now.Before(vt.until) {
		return false
	}
	k, err := vt.issuer.keyfunc(ctx)(&jwt.Token{Header: vt.header})
	if err != nil {
		return false
	}
	current := keysOf(k)
	for _, old := range vt.keys {
		if !slices.ContainsFunc(current, func(c crypto.PublicKey) bool { return sameKey(old, c) }) {
			return false
		}
	}
	return true
}

// keysOf lists what a jwt.Keyfunc returned: one key or a set.
func keysOf(k any) []crypto.PublicKey {
	if set, ok := k.(jwt.VerificationKeySet); ok {
		out := make([]crypto.PublicKey, 0, len(set.Keys))
		for _, k := range set.Keys {
			out = append(out, k)
		}
		return out
	}
	return []crypto.PublicKey{k}
}

// sameKey compares public keys with their Equal method (every key type the
// verifier accepts has one).
func sameKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// TokenCacheTTL bounds how long a verified token is remembered.
const TokenCacheTTL = time.Minute

// TokenCacheSize is how many verified tokens are remembered: a few KiB
// each at most, so a few tens of MiB at worst.
const TokenCacheSize = 10_000

// issuer is one configured issuer with its keys loaded.
type issuer struct {
	cfg    IssuerConfig
	keys   issuerKeys
	jwks   keyfunc.Keyfunc // nil without jwks_url
	parser *jwt.Parser
}

// jwksRedirectPolicy applies the https-only rule of jwks_url to every
// redirect hop: a redirect to plain http would let keys be replaced in
// transit.
func jwksRedirectPolicy(req *http.Request, via []*http.Request) error {
	if !validJWKSURL(req.URL.String()) {
		return fmt.Errorf("jwks: refusing redirect to %s: not https (or http on loopback)", req.URL.Redacted())
	}
	if len(via) >= 5 {
		return errors.New("jwks: too many redirects")
	}
	return nil
}

// New validates cfg, loads its PEM keys and starts a JWKS client for each
// jwks_url. JWKS clients refresh every jwks_refresh until ctx is done or
// Close is called. A JWKS URL that cannot be fetched at startup is logged, not
// fatal: tokens needing its keys fail with ReasonUnknownKey until a refresh
// succeeds. If the committed development key is trusted, New logs a warning.
func New(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*Verifier, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := options{now: time.Now, httpClient: &http.Client{
		Timeout:       DefaultJWKSTimeout,
		CheckRedirect: jwksRedirectPolicy,
	}}
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.withDefaults()
	keys, err := cfg.load()
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(ctx)
	v := &Verifier{
		cfg:      cfg,
		issuers:  make(map[string]*issuer, len(cfg.Issuers)),
		now:      o.now,
		logger:   logger,
		cancel:   cancel,
		verified: expirable.NewLRU[[sha256.Size]byte, verifiedToken](TokenCacheSize, nil, TokenCacheTTL),
	}
	for i, ic := range cfg.Issuers {
		is := &issuer{cfg: ic, keys: keys[i]}
		is.parser = jwt.NewParser(
			jwt.WithValidMethods(ic.Algorithms),
			jwt.WithIssuer(ic.Issuer),
			jwt.WithAudience(ic.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(v.now),
		)
		if ic.JWKSURL != "" {
			is.jwks, err = newJWKS(ctx, ic, o.httpClient, logger)
			if err != nil {
				cancel()
				return nil, fmt.Errorf("identity: issuer %q: %w", ic.Issuer, err)
			}
		}
		for _, k := range is.pemKeys() {
			if IsDevKey(k) {
				v.devKey = true
				logger.Warn("TRUSTING THE COMMITTED DEVELOPMENT KEY: anyone can mint accepted tokens; never use this configuration in production",
					"issuer", ic.Issuer, "fingerprint", DevKeyFingerprint)
			}
		}
		v.issuers[ic.Issuer] = is
	}
	return v, nil
}

// newJWKS starts a keyfunc JWKS client for ic.JWKSURL, refreshed every
// ic.JWKSRefresh and, rate limited, whenever a token names an unknown kid
// (so a key rotated in at the IdP is picked up before the next refresh).
func newJWKS(ctx context.Context, ic IssuerConfig, client *http.Client, logger *slog.Logger) (keyfunc.Keyfunc, error) {
	return keyfunc.NewDefaultOverrideCtx(ctx, []string{ic.JWKSURL}, keyfunc.Override{
		Client:          client,
		HTTPTimeout:     DefaultJWKSTimeout,
		RefreshInterval: ic.JWKSRefresh,
		// One immediate unknown-kid refresh, then at most one per interval.
		// A request that would have to wait longer than RateLimitWaitMax
		// for its turn fails at once instead of queueing.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(DefaultJWKSUnknownKIDInterval), 1),
		RateLimitWaitMax:  DefaultJWKSTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.ErrorContext(ctx, "JWKS refresh failed", "issuer", ic.Issuer, "url", u, "error", err)
			}
		},
	})
}

// Close stops the JWKS refresh goroutines. It is safe to call more than once.
func (v *Verifier) Close() error {
	v.closeOnce.Do(v.cancel)
	return nil
}

// TrustsDevKey reports whether a configured PEM key is the committed
// development key (see IsDevKey).
func (v *Verifier) TrustsDevKey() bool { return v.devKey }

// Verify verifies raw (the token, without "Bearer ") and returns the subject
// it establishes. raw is a JWT, or HFTokenPrefix followed by one (the form
// Hugging Face clients insist on); the prefix is removed before anything
// else. Every failure is an *Error with Code CodeInvalidToken:
//
//   - ReasonHubToken for HFTokenPrefix followed by something else;
//   - ReasonMalformedToken for anything that is not a compact JWS JWT;
//   - ReasonUnknownIssuer when iss is missing or not configured;
//   - ReasonAlgorithmNotAllowed when alg is not in the issuer's algorithms;
//   - ReasonUnknownKey when no key matches the kid;
//   - ReasonBadSignature when no candidate key verifies the signature;
//   - ReasonMissingExp, ReasonTokenExpired, ReasonTokenNotYetValid,
//     ReasonBadAudience, ReasonMalformedClaims for claim checks;
//   - ReasonMissingSubject when the subject claim is missing or empty.
func (v *Verifier) Verify(ctx context.Context, raw string) (policy.Subject, error) {
	sub, _, err := v.verify(ctx, raw)
	return sub, err
}

// verify is Verify, returning the binding too (see VerifyBound).
func (v *Verifier) verify(ctx context.Context, raw string) (policy.Subject, KeyBinding, error) {
	var none KeyBinding
	if len(raw) > MaxTokenSize+len(HFTokenPrefix) {
		return policy.Subject{}, none, newError(ReasonMalformedToken, fmt.Errorf("token is %d bytes, limit %d", len(raw), MaxTokenSize))
	}
	raw, err := stripHFPrefix(raw)
	if err != nil {
		return policy.Subject{}, none, err
	}
	if len(raw) > MaxTokenSize {
		return policy.Subject{}, none, newError(ReasonMalformedToken, fmt.Errorf("token is %d bytes, limit %d", len(raw), MaxTokenSize))
	}
	key := sha256.Sum256([]byte(raw))
	if vt, ok := v.verified.Get(key); ok {
		if vt.stillValid(ctx, v.now()) {
			return vt.subject, vt.binding, nil
		}
		// Expired or its key withdrawn since: verify again, for the
		// precise error.
		v.verified.Remove(key)
	}
	// Duplicate member names in the header or claims are refused (RFC 7519
	// §4 allows either refusing or last-wins): an issuer, proxy or policy
	// that read the first "country" or "alg" must not be overruled by a
	// second one only this parser reads (found by the attack suite).
	if err := checkDuplicateMembers(raw); err != nil {
		return policy.Subject{}, none, newError(ReasonMalformedToken, err)
	}
	// Read iss and alg before verifying anything, to choose the issuer and
	// reject disallowed algorithms with a precise reason. Nothing read here
	// is trusted: ParseWithClaims below checks all of it again.
	unverified, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenUnverifiable) {
			// The alg names no signing method golang-jwt knows.
			return policy.Subject{}, none, newError(ReasonAlgorithmNotAllowed, err)
		}
		return policy.Subject{}, none, newError(ReasonMalformedToken, err)
	}
	iss, _ := unverified.Claims.(jwt.MapClaims)["iss"].(string)
	is, ok := v.issuers[iss]
	if !ok {
		return policy.Subject{}, none, newError(ReasonUnknownIssuer, nil)
	}
	if alg, _ := unverified.Header["alg"].(string); !slices.Contains(is.cfg.Algorithms, alg) {
		return policy.Subject{}, none, newError(ReasonAlgorithmNotAllowed, fmt.Errorf("alg %q not allowed for issuer %q", alg, iss))
	}

	claims := jwt.MapClaims{}
	var keys []crypto.PublicKey
	keyfunc := func(t *jwt.Token) (any, error) {
		k, err := is.keyfunc(ctx)(t)
		if err == nil {
			keys = keysOf(k)
		}
		return k, err
	}
	tok, err := is.parser.ParseWithClaims(raw, claims, keyfunc)
	if err != nil {
		return policy.Subject{}, none, classify(err, claims)
	}
	sub, err := subjectFromClaims(claims, v.cfg)
	if err != nil {
		return policy.Subject{}, none, err
	}
	b, err := binding(iss, raw, tok, keys)
	if err != nil {
		// The signature verified a moment ago: a bug, refused all the same.
		return policy.Subject{}, none, newError(ReasonBadSignature, err)
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		v.verified.Add(key, verifiedToken{subject: sub, until: exp.Add(v.cfg.Leeway), issuer: is, header: tok.Header, keys: keys, binding: b})
	}
	return sub, b, nil
}

// errUnknownKey is returned by issuer.keyfunc when no key can be found.
var errUnknownKey = errors.New("no key found for token")

// keyfunc selects the verification key(s) for a token of this issuer:
//
//   - a kid equal to a "kid=path" PEM entry selects that key only;
//   - otherwise a kid is looked up in the JWKS (which may refresh once, rate
//     limited, to find a newly rotated key);
//   - otherwise, and for tokens without a kid, the PEM keys configured
//     without a kid are tried in turn (jwt.VerificationKeySet); a token
//     without kid also tries every JWKS key whose alg fits.
func (is *issuer) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, hasKID := t.Header["kid"].(string)
		if hasKID {
			if k, ok := is.keys.byKID[kid]; ok {
				return k, nil
			}
			if is.jwks != nil {
				k, err := is.jwks.KeyfuncCtx(ctx)(t)
				if err == nil {
					return k, nil
				}
				if len(is.keys.anyKID) == 0 {
					return nil, errors.Join(errUnknownKey, err)
				}
			}
			if len(is.keys.anyKID) == 0 {
				return nil, errUnknownKey
			}
			return keySet(is.keys.anyKID), nil
		}

		set := keySet(is.keys.anyKID)
		if is.jwks != nil {
			// Without a kid keyfunc returns every JWKS key matching alg.
			k, err := is.jwks.KeyfuncCtx(ctx)(t)
			if err == nil {
				if ks, ok := k.(jwt.VerificationKeySet); ok {
					set.Keys = append(set.Keys, ks.Keys...)
				}
			}
		}
		if len(set.Keys) == 0 {
			return nil, errUnknownKey
		}
		return set, nil
	}
}

// keySet returns keys as a fresh jwt.VerificationKeySet.
func keySet(keys []crypto.PublicKey) jwt.VerificationKeySet {
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k)
	}
	return set
}

// pemKeys returns every PEM key of the issuer.
func (is *issuer) pemKeys() []crypto.PublicKey {
	keys := slices.Clone(is.keys.anyKID)
	for _, k := range is.keys.byKID {
		keys = append(keys, k)
	}
	return keys
}

// classify maps a golang-jwt parse error to an *Error. claims holds what was
// decoded from the token (unverified if the signature failed). Signature and
// key problems are checked first because golang-jwt reports them before it
// looks at claims; among claim problems a missing exp wins, then expiry.
func classify(err error, claims jwt.MapClaims) *Error {
	switch {
	case errors.Is(err, errUnknownKey):
		return newError(ReasonUnknownKey, err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return newError(ReasonMalformedToken, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return newError(ReasonBadSignature, err)
	}
	if _, ok := claims["exp"]; !ok {
		return newError(ReasonMissingExp, err)
	}
	switch {
	case errors.Is(err, jwt.ErrInvalidType):
		return newError(ReasonMalformedClaims, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return newError(ReasonTokenExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return newError(ReasonTokenNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return newError(ReasonBadAudience, err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return newError(ReasonUnknownIssuer, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// exp is present, and iss was matched before parsing, so the
		// missing required claim is aud.
		return newError(ReasonBadAudience, err)
	}
	return newError(ReasonMalformedClaims, err)
}

// checkDuplicateMembers decodes the header and payload of a compact JWS and
// fails when an object in either has a member name twice. Parts that do not
// decode are left for the JWT parser to reject.
func checkDuplicateMembers(raw string) error {
	parts := strings.SplitN(raw, ".", 3)
	for i, part := range parts[:min(2, len(parts))] {
		b, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			continue
		}
		if err := duplicateMember(json.NewDecoder(bytes.NewReader(b))); err != nil && err != errNotJSON {
			return fmt.Errorf("%s: %w", [2]string{"header", "claims"}[i], err)
		}
	}
	return nil
}

// errNotJSON stops duplicateMember at a syntax error, which is left for the
// JWT parser to report.
var errNotJSON = errors.New("not JSON")

// duplicateMember reads one JSON value from d, failing on a member name seen
// twice in one object.
func duplicateMember(d *json.Decoder) error {
	t, err := d.Token()
	if err != nil {
		return errNotJSON
	}
	switch t {
	case json.Delim('{'):
		seen := map[string]bool{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return errNotJSON
			}
			name, _ := k.(string)
			if seen[name] {
				return fmt.Errorf("duplicate member %q", name)
			}
			seen[name] = true
			if err := duplicateMember(d); err != nil {
				return err
			}
		}
		d.Token()
	case json.Delim('['):
		for d.More() {
			if err := duplicateMember(d); err != nil {
				return err
			}
		}
		d.Token()
	}
	return nil
}
