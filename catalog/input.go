package catalog

import "github.com/weightgate/weightgate/policy"

// NewInput is the policy input of a request by sub for file of model id
// ("": the model's weights), made as req describes, before the catalog is
// read: the gateway records it as it stands when a request ends early.
// Describe completes it, and the caller sets the object's size once storage
// has given it. The gateway, check and matrix build every input this way, so
// that a what-if is asked exactly as a download would be (replay re-decides
// the inputs the gateway recorded).
func NewInput(sub policy.Subject, id, file string, req policy.Request) policy.Input {
	return policy.Input{
		Subject: sub,
		Model:   policy.Model{ID: id},
		Object:  policy.Object{Path: file, Kind: ObjectKind(file)},
		Request: req,
	}
}
