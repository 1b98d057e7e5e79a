# METADATA
# title: employees_only (example extension)
# description: >-
#   Releases files of closed-weight models only to requesters acting for an
#   entity listed in data.weightgate.extensions.employees_only.entity_ids.
#   An example of a lab's own rule on top of the default bundle: load it with
#   `policy.Options.Extensions = []string{"rego/examples/employees_only"}`.
#   It only adds denials; the base policy still decides everything else.
package weightgate.extensions.employees_only

# Data is read key by key: referring to the whole package
# (data.weightgate.extensions.employees_only) from inside it would be recursive.
_ids := data.weightgate.extensions.employees_only.entity_ids

_audience := data.weightgate.extensions.employees_only.audience

# A requester without an entity id, or with one not listed, is denied.
deny contains {
	"code": "employees_only",
	"reason": sprintf("files of %s are released only to %s", [input.model.id, _audience]),
	"basis": "lab policy: closed-weight models only to listed entities (weightgate extension employees_only)",
} if {
	input.model.weights == "closed"
	not _listed
}

# A helper rule, not `not input.subject.entity.id in _ids`: OPA evaluates the
# reference before the negation, so with no entity id that body would fail
# and the denial silently not be added. Deny rules must fail closed.
_listed if input.subject.entity.id in _ids
