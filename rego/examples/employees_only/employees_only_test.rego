# Tests for the employees_only example, run with the default bundle loaded
# underneath (go test ./rego/).
package employees_only_test

import data.weightgate

_in := {
	"subject": {
		"anonymous": false,
		"id": "bob",
		"country": "GB",
		"nationality": ["GB"],
		"entity": {"name": "Frontier Lab", "id": "frontier-lab", "hq": "US", "parent_hq": "US", "veu": ""},
		"claims": {},
	},
	"model": {"id": "frontier-lab/frontier-x", "classified": true, "weights": "closed", "training_compute_flop": 3e26, "eccn": "4E091", "revision": "1"},
	"object": {"path": "model.safetensors", "kind": "weights", "size": 1},
	"request": {"method": "GET", "api": "resolve", "range": "", "remote_addr": "192.0.2.1:1", "time": "2026-01-02T03:04:05Z"},
}

_decide(patch) := d if {
	d := weightgate.decision with input as object.union(_in, patch)
}

test_employee_keeps_base_allow if {
	d := _decide({})
	d.allow == true
	d.code == "license_exception_aia"
}

test_other_entity_is_denied if {
	d := _decide({"subject": {"entity": {"id": "acme"}}})
	d.allow == false
	d.code == "employees_only"
	d.reason == "files of frontier-lab/frontier-x are released only to employees of Frontier Lab and its US subsidiary"
}

test_no_entity_is_denied if {
	# An entity that is only a parent headquarters: the default bundle needs
	# that claim for controlled weights, so the base answer is still an allow.
	inp := object.union(json.remove(_in, ["subject/entity"]), {"subject": {"entity": {"parent_hq": "US"}}})
	d := weightgate.decision with input as inp
	d.code == "employees_only"
}

# Closed models' other files are covered too.
test_other_files_of_closed_models_are_denied if {
	d := _decide({"subject": {"entity": {"id": "acme"}}, "object": {"path": "config.json", "kind": "other"}})
	d.code == "employees_only"
}

test_open_models_are_untouched if {
	d := _decide({"subject": {"entity": {"id": "acme"}}, "model": {"weights": "open"}})
	d.allow == true
	d.code == "open_weights"
}

# Base denials are reported as they are.
test_base_denial_wins if {
	d := _decide({"subject": {"country": "CN"}})
	d.code == "country_of_concern"
}
