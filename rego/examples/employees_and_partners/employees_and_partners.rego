# METADATA
# title: employees_and_partners (example extension)
# description: >-
#   Releases files of closed-weight models only to the lab's own employees and
#   to requesters acting for its named partners. An employee is a requester
#   with the verified employee claim (subject.employee) whose entity id is one
#   of data.weightgate.extensions.employees_and_partners.lab_entity_ids; a
#   partner is a requester whose entity id is one of partner_entity_ids. Load
#   it with `policy.extensions: [rego/examples/employees_and_partners]`. It
#   only adds denials: the bundle underneath still decides everything else,
#   and its denials (authentication, embargo, ...) are reported as they are.
package weightgate.extensions.employees_and_partners

import data.weightgate.lib

# Data is read key by key: referring to the whole package
# (data.weightgate.extensions.employees_and_partners) from inside it would be
# recursive. Missing or mistyped data matches no one, so every closed model is
# denied: the rule fails closed.
_cfg_lab_ids := data.weightgate.extensions.employees_and_partners.lab_entity_ids

_cfg_partner_ids := data.weightgate.extensions.employees_and_partners.partner_entity_ids

_lab := n if {
	n := data.weightgate.extensions.employees_and_partners.lab_name
	is_string(n)
} else := "the lab"

_partners := p if {
	p := data.weightgate.extensions.employees_and_partners.partners
	is_string(p)
} else := "its named partners"

_basis := sprintf("lab policy: closed-weight models only to employees of %s and to %s (weightgate extension employees_and_partners)", [_lab, _partners])

deny contains {
	"code": "employees_and_partners",
	"reason": sprintf("files of %s are released only to employees of %s and to requesters acting for %s: %s", [lib.model_name, _lab, _partners, _why]),
	"basis": _basis,
} if {
	input.model.weights == "closed"
	not _employee
	not _partner
}

# Helper rules, not `not input.subject.entity.id in ids`: OPA evaluates the
# reference before the negation, so with no entity id such a body would fail
# and the denial silently not be added. Deny rules must fail closed.
_employee if {
	input.subject.employee == true
	_entity_in(_cfg_lab_ids)
}

_partner if _entity_in(_cfg_partner_ids)

# An empty id never matches, even should the data list one by mistake.
_entity_in(ids) if {
	id := input.subject.entity.id
	is_string(id)
	id != ""
	is_array(ids)
	id in ids
}

# Why this requester is not let through, for the reason.
_why := "you act for no entity" if {
	not _has_entity
} else := sprintf("you act for %s but are not recorded as its permanent employee", [input.subject.entity.id]) if {
	_entity_in(_cfg_lab_ids)
} else := sprintf("%s is neither %s nor a named partner", [input.subject.entity.id, _lab])

_has_entity if {
	id := input.subject.entity.id
	is_string(id)
	id != ""
}
