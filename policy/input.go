// Package policy is the contract between weightgate and its Rego policy
// bundles: the Input a bundle's data.weightgate.decision rule reads, and the
// Decision it returns. It imports neither OPA nor HTTP, so the packages that
// build an input (identity, the S3 credentials) do not pull the evaluator in;
// the evaluator is policy/opa.
//
// The types are documented for policy authors in docs/policies.md; change
// them only together with that page and the bundles in rego/.
package policy

// Input is the document a bundle's data.weightgate.decision rule sees as `input`.
type Input struct {
	Subject  Subject  `json:"subject"`
	Model    Model    `json:"model"`
	Object   Object   `json:"object"`
	Request  Request  `json:"request"`
	Frontier Frontier `json:"frontier"`
	// LicenceReleases is how many releases of weights files the gateway has
	// counted under each capped licence, by licence id: the policy compares
	// it with the licence's max_releases. Nil when no count is kept.
	LicenceReleases map[string]int `json:"licence_releases,omitempty"`
}

// Frontier is the open-weight frontier: the training compute of the most
// capable published model, which moves the control threshold up (ECCN
// 4E091, exclusion (b)).
type Frontier struct {
	// FLOP is the frontier's training compute; 0 when there is none.
	FLOP float64 `json:"flop"`
	// Source is FrontierConfigured, FrontierCatalog or FrontierNone.
	Source string `json:"source"`
	// Model is the catalog model that sets it, when Source is catalog.
	Model string `json:"model"`
}

// Frontier sources.
const (
	FrontierNone       = "none"
	FrontierConfigured = "configured"
	FrontierCatalog    = "catalog"
)

// Subject is the requester, as established from a verified token.
// Anonymous requests have Anonymous set and every other field empty.
type Subject struct {
	Anonymous bool   `json:"anonymous"`
	ID        string `json:"id"`
	// Name is the requester's name (the token's name claim), screened
	// against restricted-party lists; "" when the token carries none.
	Name string `json:"name"`
	// Country is the ISO 3166-1 alpha-2 code (upper case) of where the
	// requester is: the export destination. Empty when missing or malformed.
	Country string `json:"country"`
	// Nationality and PermanentResidence are ISO codes; a malformed entry
	// is "invalid", never dropped, so that the policy can refuse it.
	Nationality        []string `json:"nationality"`
	PermanentResidence []string `json:"permanent_residence"`
	// USPerson is set when the token says explicitly that the requester is
	// a U.S. person (citizen, permanent resident or protected individual),
	// in place of a nationality: a release to them in the United States is
	// not an export.
	USPerson bool `json:"us_person"`
	// Employee is set when the requester is a permanent regular employee
	// of Entity (the deemed-export carve-out).
	Employee bool           `json:"employee"`
	Entity   Entity         `json:"entity"`
	Claims   map[string]any `json:"claims"`
	// Screening is the restricted-party screening of the subject and its
	// entity.
	Screening Screening `json:"screening"`
}

// Screening statuses.
const (
	// ScreeningOff: no screening list is configured (or the request is
	// anonymous and there is no one to screen).
	ScreeningOff = "off"
	// ScreeningClear: screened, nothing reached the review threshold.
	ScreeningClear = "clear"
	// ScreeningHit: a name reached the hit threshold, or an id matched.
	ScreeningHit = "hit"
	// ScreeningReview: a near miss, between the review and hit thresholds.
	ScreeningReview = "review"
)

// Screening is the result of screening a request's subject and entity
// against the configured restricted-party lists.
type Screening struct {
	Status string `json:"status"` // ScreeningOff | ScreeningClear | ScreeningHit | ScreeningReview
	// List is the source list of the matching entry (for the Consolidated
	// Screening List, e.g. "Entity List (EL) - Bureau of Industry and
	// Security"); Entry its id; Name the listed name or id that matched;
	// Field the part of the request that matched it ("entity.name",
	// "entity.id", "subject.name", "subject.id"). All "" when not a hit or
	// review.
	List  string  `json:"list"`
	Entry string  `json:"entry"`
	Name  string  `json:"name"`
	Field string  `json:"field"`
	Score float64 `json:"score"` // 0 to 1; 0 unless hit or review
}

// Entity is the organisation the requester acts for.
type Entity struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	HQ       string `json:"hq"`
	ParentHQ string `json:"parent_hq"`
	// VEU is "uveu", "nveu" or empty. It is set from a token only when the
	// configuration trusts that claim.
	VEU string `json:"veu"`
	// SecurityAttested is set when the entity's weights-security posture is
	// attested by a claim the configuration trusts.
	SecurityAttested bool `json:"security_attested"`
}

// Model is a model's export classification as read from its export.yaml.
type Model struct {
	ID string `json:"id"`
	// Classified is false when export.yaml is missing or failed strict parsing;
	// the remaining fields are then empty.
	Classified bool `json:"classified"`
	// Signed is set when a configured compliance key signed the
	// classification (catalog.classification_keys); ClassifiedBy,
	// ClassifiedAt (RFC 3339) and ClassificationBasis ("self-assessment" or
	// "ccats:NUMBER") are then the signed record's, and empty otherwise.
	// With keys configured an unsigned export.yaml is not Classified at all.
	Signed              bool    `json:"signed"`
	ClassifiedBy        string  `json:"classified_by"`
	ClassifiedAt        string  `json:"classified_at"`
	ClassificationBasis string  `json:"classification_basis"`
	Weights             string  `json:"weights"` // "open" | "closed" | ""
	TrainingComputeFLOP float64 `json:"training_compute_flop"`
	ECCN                string  `json:"eccn"`
	Revision            string  `json:"revision"`
	// BaseModel is the model this one was fine-tuned from, "" if none;
	// FineTuneComputeFLOP the operations the fine-tuning added.
	BaseModel           string  `json:"base_model"`
	FineTuneComputeFLOP float64 `json:"fine_tune_compute_flop"`
	// Base is the base model as the catalog has it; nil when BaseModel is "".
	Base *BaseModel `json:"base"`
}

// BaseModel is a fine-tune's base model, as found in the catalog.
type BaseModel struct {
	ID    string `json:"id"`
	Found bool   `json:"found"`
	// The rest is as in Model, and empty when the base is not found.
	Classified          bool    `json:"classified"`
	Weights             string  `json:"weights"`
	TrainingComputeFLOP float64 `json:"training_compute_flop"`
	ECCN                string  `json:"eccn"`
}

// Object kinds.
const (
	KindWeights = "weights"
	KindOther   = "other"
)

// Object is the file being requested.
type Object struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // KindWeights | KindOther
	Size int64  `json:"size"`
}

// Request describes the HTTP request.
type Request struct {
	Method     string `json:"method"`
	API        string `json:"api"`   // "resolve" for file downloads, "check" for the CLI what-if
	Range      string `json:"range"` // the raw Range header, "" when absent
	RemoteAddr string `json:"remote_addr"`
	Time       string `json:"time"` // RFC 3339, UTC
	// ClientIP is the client's address: the TCP peer, or what a trusted
	// proxy reports (X-Forwarded-For, Forwarded); "" when it could not be
	// determined. ClientIPVia says which: "peer", "x-forwarded-for",
	// "forwarded" or "malformed".
	ClientIP    string `json:"client_ip"`
	ClientIPVia string `json:"client_ip_via"`
	// IPCountry is the ISO code of the country the country database places
	// ClientIP in; "" when unknown (no database, a private or loopback
	// address, or an address the database does not know).
	IPCountry string `json:"ip_country"`
	// IPTrustedNetwork is set when ClientIP is in a configured trusted
	// (corporate or VPN) network.
	IPTrustedNetwork bool `json:"ip_trusted_network"`
}

// Decision is a bundle's answer for one Input.
type Decision struct {
	Allow  bool   `json:"allow"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Basis  string `json:"basis"`
	// Visible says whether the requester may know that the model exists. It
	// matters only for a model that is not open-weight, when the decision
	// denies: a requester it hides the model from gets exactly the answer
	// for a model that does not exist, on every endpoint. A bundle that does
	// not say is read as false (hidden): an allow implies visible, so such a
	// bundle shows a non-open model only to those it lets download it.
	Visible bool `json:"visible"`
	// Bundle, Version and Revision identify the regime that decided: the
	// bundle's declared name and version, and a content hash of every module
	// and data file loaded with it.
	Bundle  string `json:"bundle"`
	Version string `json:"version,omitempty"`
	// Releases are the capped licences an allow relies on: the gateway
	// reserves one release of each, durably, before it sends a byte of a
	// weights file, and asks again should one be used up meanwhile.
	Releases []Release `json:"releases,omitempty"`
	Revision string    `json:"revision"`
}

// Release is one capped licence a decision relies on.
type Release struct {
	Licence     string `json:"licence"`
	MaxReleases int    `json:"max_releases"`
}

// CodeLicenceExhausted is the code of a denial because every release a
// capped licence allows has been made.
const CodeLicenceExhausted = "license_exhausted"

// CodePolicyError is the code of the deny Decision returned when evaluation
// fails, is undefined or yields a malformed result.
const CodePolicyError = "policy_error"
