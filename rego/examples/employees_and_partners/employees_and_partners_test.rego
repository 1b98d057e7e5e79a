# Tests for the employees_and_partners example, run with the default bundle
# loaded underneath (go test ./rego/): each compares the decision with the
# extension to the default bundle's own decision (the extension's denials
# replaced by an empty set).
package employees_and_partners_test

import data.weightgate

# Bob, a U.S. national in the United States and a permanent employee of
# Frontier Lab (headquartered in the US), asks for a weights file of the lab's
# closed model.
_in := {
	"subject": {
		"anonymous": false,
		"id": "bob",
		"country": "US",
		"nationality": ["US"],
		"permanent_residence": null,
		"employee": true,
		"entity": {"name": "Frontier Lab", "id": "frontier-lab", "hq": "US", "parent_hq": "US", "veu": "", "security_attested": false},
		"claims": {},
	},
	"model": {"id": "frontier-lab/frontier-x", "classified": true, "weights": "closed", "training_compute_flop": 3e26, "eccn": "4E091", "revision": "1", "base_model": "", "fine_tune_compute_flop": 0, "base": null},
	"object": {"path": "model.safetensors", "kind": "weights", "size": 1},
	"request": {"method": "GET", "api": "resolve", "range": "", "remote_addr": "192.0.2.1:1", "time": "2026-01-02T03:04:05Z"},
	"frontier": {"flop": 0, "source": "none", "model": ""},
}

_acting_for(id, hq) := {"subject": {"employee": false, "entity": {"name": id, "id": id, "hq": hq, "parent_hq": hq}}}

_inp(patches) := object.union_n(array.concat([_in], patches))

# The decision with the extension loaded.
_decide(patches) := d if {
	d := weightgate.decision with input as _inp(patches)
}

# The default bundle's decision alone.
_base(patches) := d if {
	d := weightgate.decision with input as _inp(patches) with data.weightgate.extensions.employees_and_partners.deny as set()
}

_denied(d) if {
	d.allow == false
	d.code == "employees_and_partners"
	d.basis == "lab policy: closed-weight models only to employees of Frontier Lab and to Acme AI and Contoso Research (weightgate extension employees_and_partners)"
}

# An employee keeps the base allow.
test_employee_keeps_base_allow if {
	b := _base([])
	b.allow == true
	_decide([]) == b

	# Also acting for the lab's US subsidiary.
	s := _decide([{"subject": {"entity": {"id": "frontier-lab-us"}}}])
	s == _base([{"subject": {"entity": {"id": "frontier-lab-us"}}}])
	s.allow == true
}

# A named partner, employee or not, keeps the base allow.
test_partner_keeps_base_allow if {
	p := [_acting_for("acme-ai", "GB"), {"subject": {"country": "GB", "nationality": ["GB"]}}]
	b := _base(p)
	b.allow == true
	_decide(p) == b
}

# An allow of the base becomes a deny for anyone else.
test_base_allow_becomes_deny if {
	p := [_acting_for("other-co", "US")]
	_base(p).allow == true
	d := _decide(p)
	_denied(d)
	d.reason == "files of frontier-lab/frontier-x are released only to employees of Frontier Lab and to requesters acting for Acme AI and Contoso Research: other-co is neither Frontier Lab nor a named partner"
}

# The lab's entity without the verified employee claim is not an employee.
test_lab_non_employee_is_denied if {
	p := [{"subject": {"employee": false}}]
	_base(p).allow == true
	d := _decide(p)
	_denied(d)
	endswith(d.reason, "you act for frontier-lab but are not recorded as its permanent employee")
}

# No entity at all: denied (the deny rule fails closed).
test_no_entity_is_denied if {
	# An entity that is only a parent headquarters: the default bundle needs
	# that claim for controlled weights, so the base answer is still an allow.
	inp := object.union(json.remove(_in, ["subject/entity"]), {"subject": {"entity": {"parent_hq": "US"}}})
	d := weightgate.decision with input as inp
	_denied(d)
	endswith(d.reason, "you act for no entity")

	e := _decide([{"subject": {"entity": {"id": ""}}}])
	_denied(e)
}

# Closed models' other files are covered too.
test_other_files_of_closed_models_are_denied if {
	p := [_acting_for("other-co", "US"), {"object": {"path": "config.json", "kind": "other"}}]
	_base(p).code == "not_weights"
	_denied(_decide(p))
}

test_open_models_are_untouched if {
	p := [_acting_for("other-co", "US"), {"model": {"weights": "open"}}]
	d := _decide(p)
	d.allow == true
	d.code == "open_weights"
	d == _base(p)
}

# Base denials are reported as they are, for partners and others alike.
test_base_denial_stays if {
	partner_cn := [_acting_for("acme-ai", "CN"), {"subject": {"country": "CN", "nationality": ["CN"]}}]
	_decide(partner_cn).code == "country_of_concern"
	_decide(partner_cn) == _base(partner_cn)

	other_ir := [_acting_for("other-co", "IR"), {"subject": {"country": "IR", "nationality": ["IR"]}}]
	_decide(other_ir).code == "embargoed_destination"
	_decide(other_ir) == _base(other_ir)

	anon := [{"subject": {"anonymous": true, "id": "", "country": "", "nationality": null, "employee": false, "entity": {"id": ""}}}]
	_decide(anon).code == "authentication_required"
}

# Missing or mistyped lists match no one: closed models are denied to all.
test_broken_data_fails_closed if {
	d := weightgate.decision with input as _in with data.weightgate.extensions.employees_and_partners.lab_entity_ids as null
	_denied(d)

	p := weightgate.decision with input as _inp([_acting_for("acme-ai", "US")]) with data.weightgate.extensions.employees_and_partners.partner_entity_ids as "acme-ai"
	_denied(p)

	# An empty id listed by mistake does not let requesters without an
	# entity through.
	e := weightgate.decision with input as _inp([{"subject": {"employee": false, "entity": {"id": ""}}}]) with data.weightgate.extensions.employees_and_partners.partner_entity_ids as [""]
	_denied(e)
}

# Without names in the data, reasons fall back to generic words.
test_names_optional if {
	d := weightgate.decision with input as _inp([_acting_for("other-co", "US")])
		with data.weightgate.extensions.employees_and_partners.lab_name as null
		with data.weightgate.extensions.employees_and_partners.partners as null
	d.code == "employees_and_partners"
	d.reason == "files of frontier-lab/frontier-x are released only to employees of the lab and to requesters acting for its named partners: other-co is neither the lab nor a named partner"
	d.basis == "lab policy: closed-weight models only to employees of the lab and to its named partners (weightgate extension employees_and_partners)"
}
