// Package policy evaluates weightgate's Rego policy bundles with an embedded OPA.
//
// It is a leaf package: it knows nothing of HTTP, tokens or storage. Its Input
// and Decision types are the contract with the Rego in rego/ (documented in
// rego/README.md); change them only together with that document.
package policy

// Input is the document a bundle's data.weightgate.decision rule sees as `input`.
type Input struct {
	Subject Subject `json:"subject"`
	Model   Model   `json:"model"`
	Object  Object  `json:"object"`
	Request Request `json:"request"`
}

// Subject is the requester, as established from a verified token.
// Anonymous requests have Anonymous set and every other field empty.
type Subject struct {
	Anonymous bool   `json:"anonymous"`
	ID        string `json:"id"`
	// Country is the ISO 3166-1 alpha-2 code (upper case) of where the
	// requester is: the export destination. Empty when missing or malformed.
	Country     string         `json:"country"`
	Nationality []string       `json:"nationality"`
	Entity      Entity         `json:"entity"`
	Claims      map[string]any `json:"claims"`
}

// Entity is the organisation the requester acts for.
type Entity struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	HQ       string `json:"hq"`
	ParentHQ string `json:"parent_hq"`
	// VEU is "uveu", "nveu" or empty.
	VEU string `json:"veu"`
}

// Model is a model's export classification as read from its export.yaml.
type Model struct {
	ID string `json:"id"`
	// Classified is false when export.yaml is missing or failed strict parsing;
	// the remaining fields are then empty.
	Classified          bool    `json:"classified"`
	Weights             string  `json:"weights"` // "open" | "closed" | ""
	TrainingComputeFLOP float64 `json:"training_compute_flop"`
	ECCN                string  `json:"eccn"`
	Revision            string  `json:"revision"`
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
}

// Decision is a bundle's answer for one Input.
type Decision struct {
	Allow  bool   `json:"allow"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Basis  string `json:"basis"`
	// Bundle, Version and Revision identify the regime that decided: the
	// bundle's declared name and version, and a content hash of every module
	// and data file loaded with it.
	Bundle   string `json:"bundle"`
	Version  string `json:"version,omitempty"`
	Revision string `json:"revision"`
}

// CodePolicyError is the code of the deny Decision returned when evaluation
// fails, is undefined or yields a malformed result.
const CodePolicyError = "policy_error"
