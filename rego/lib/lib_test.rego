# Tests for data.weightgate.lib, the library every bundle loads. They run
# with each built-in bundle (go test ./rego/) and read no bundle data.
package weightgate.lib_test

import data.weightgate.lib

_in := {
	"subject": {
		"anonymous": false,
		"id": "alice",
		"country": "US",
		"nationality": ["US"],
		"permanent_residence": null,
		"employee": false,
		"entity": {"name": "Acme", "id": "acme", "hq": "US", "parent_hq": "US", "veu": "", "security_attested": false},
		"claims": {},
	},
	"model": {
		"id": "frontier-lab/frontier-x", "classified": true, "weights": "closed",
		"training_compute_flop": 3e26, "eccn": "", "revision": "1",
		"base_model": "", "fine_tune_compute_flop": 0, "base": null,
	},
	"object": {"path": "model.safetensors", "kind": "weights", "size": 1},
	"request": {"method": "GET", "api": "resolve", "range": "", "remote_addr": "192.0.2.1:1", "time": "2026-01-02T03:04:05Z"},
	"frontier": {"flop": 0, "source": "none", "model": ""},
}

_with(patch) := object.union(_in, patch)

_tier1 := ["US", "GB", "DE", "JP"]

_us := ["US", "PR", "GU"]

# The places lib.destinations is given: Tier 1, the United States with two
# of its territories, and the homes the carve-out never lifts.
_places := {"tier1": _tier1, "united_states": _us, "never_carved": ["IR", "UA-43"]}

# --- Constructors and the request ----------------------------------------------

test_allow_and_deny if {
	lib.allow("c", "r", "b") == {"allow": true, "code": "c", "reason": "r", "basis": "b"}
	lib.deny("c", "r", "b") == {"allow": false, "code": "c", "reason": "r", "basis": "b"}
}

test_anonymous if {
	lib.anonymous with input as _with({"subject": {"anonymous": true}})
	not lib.anonymous with input as _in
	not lib.anonymous with input as _with({"subject": {"anonymous": "true"}})
}

test_classification if {
	lib.classified with input as _in
	lib.closed_weights with input as _in
	not lib.open_weights with input as _in
	lib.open_weights with input as _with({"model": {"weights": "open"}})
	not lib.classified with input as _with({"model": {"classified": false}})
	not lib.open_weights with input as _with({"model": {"classified": false, "weights": "open"}})
	not lib.closed_weights with input as _with({"model": {"weights": "semi-open"}})
}

test_model_and_file_name if {
	lib.model_name == "frontier-lab/frontier-x" with input as _in
	lib.model_name == "this model" with input as _with({"model": {"id": ""}})
	lib.model_name == "this model" with input as _with({"model": {"id": 7}})
	lib.file_name == "model.safetensors" with input as _in
	lib.file_name == "this file" with input as _with({"object": {"path": ""}})
}

test_code_and_valid_code if {
	lib.code(["subject", "country"]) == "GB" with input as _with({"subject": {"country": " gb "}})
	lib.code(["subject", "missing"]) == "" with input as _in
	lib.code(["subject", "country"]) == "?" with input as _with({"subject": {"country": 840}})
	lib.valid_code("US")
	not lib.valid_code("")
	not lib.valid_code("?")
	not lib.valid_code("USA")
	not lib.valid_code("INVALID")
	not lib.valid_code("u1")
}

test_country_hq_parent_hq if {
	inp := _with({"subject": {"country": "de", "entity": {"hq": "gb", "parent_hq": "jp"}}})
	lib.country == "DE" with input as inp
	lib.hq == "GB" with input as inp
	lib.parent_hq == "JP" with input as inp

	# Missing or empty headquarters count as the location, each on its own.
	fallback := _with({"subject": {"country": "IN", "entity": {"hq": "", "parent_hq": "US"}}})
	lib.hq == "IN" with input as fallback
	lib.parent_hq == "US" with input as fallback
	lib.hq == "FR" with input as json.remove(_with({"subject": {"country": "FR"}}), ["subject/entity"])

	# A malformed one is never valid.
	lib.hq == "INVALID" with input as _with({"subject": {"entity": {"hq": "invalid"}}})
	lib.parent_hq == "?" with input as _with({"subject": {"entity": {"parent_hq": 156}}})
}

test_entity_id if {
	lib.entity_id == "acme" with input as _in
	not lib.entity_id with input as _with({"subject": {"entity": {"id": ""}}})
	not lib.entity_id with input as _with({"subject": {"entity": {"id": 7}}})
}

# --- Dates -----------------------------------------------------------------------

test_today if {
	lib.today == "2026-01-02" with input as _in
	not lib.today with input as _with({"request": {"time": ""}})
	not lib.today with input as _with({"request": {"time": "2026-01-02"}})
	not lib.today with input as _with({"request": {"time": "2026-01-02T03:04:05+01:00"}})
	not lib.today with input as _with({"request": {"time": 1767323045}})
	not lib.today with input as json.remove(_in, ["request/time"])
}

test_valid_on_inclusive if {
	e := {"valid_from": "2026-01-02", "valid_until": "2026-01-02"}
	lib.valid_on(e, "2026-01-02")
	not lib.valid_on(e, "2026-01-01")
	not lib.valid_on(e, "2026-01-03")
	lib.valid_on({"valid_from": "2025-01-01", "valid_until": "2026-12-31"}, "2026-06-30")
}

test_valid_on_open_ended if {
	lib.valid_on({}, "2026-01-02")
	lib.valid_on({"valid_from": "2026-01-02"}, "2026-01-02")
	not lib.valid_on({"valid_from": "2026-01-03"}, "2026-01-02")
	lib.valid_on({"valid_until": "2026-01-02"}, "2026-01-02")
	not lib.valid_on({"valid_until": "2026-01-01"}, "2026-01-02")
}

test_valid_on_malformed_never_matches if {
	not lib.valid_on({"valid_from": "2026/01/01"}, "2026-01-02")
	not lib.valid_on({"valid_until": "31-12-2026"}, "2026-01-02")
	not lib.valid_on({"valid_until": 20261231}, "2026-01-02")
	not lib.valid_on({"valid_from": null}, "2026-01-02")
}

# --- Nationalities and destinations ------------------------------------------

test_nationalities if {
	inp := _with({"subject": {"nationality": ["fr", "US", "FR"], "permanent_residence": ["gb", "us"]}})
	lib.nationalities == ["FR", "US", "GB"] with input as inp
	lib.nationalities == [] with input as _with({"subject": {"nationality": null}})
	lib.nationalities == [] with input as json.remove(_in, ["subject/nationality"])

	# Malformed entries stay, so that they are refused.
	lib.nationalities == ["INVALID", "?"] with input as _with({"subject": {"nationality": ["invalid", 156]}})
	lib.nationalities == ["?"] with input as _with({"subject": {"nationality": "CN"}})
	lib.nationalities == ["US", "?"] with input as _with({"subject": {"permanent_residence": {"c": "CN"}}})
}

test_is_nationality if {
	inp := _with({"subject": {"nationality": ["cn"], "permanent_residence": ["IR", "CN"]}})
	lib.is_nationality("CN") with input as inp
	not lib.is_nationality("IR") with input as inp
	not lib.is_nationality("IR") with input as _with({"subject": {"nationality": null, "permanent_residence": ["IR"]}})
}

test_date if {
	lib.date("2026-01-31")
	not lib.date("2026-1-31")
	not lib.date("31-01-2026")
	not lib.date(20260131)
	not lib.date(null)
}

test_us_person if {
	lib.us_person(_us) with input as _in
	lib.us_person(_us) with input as _with({"subject": {"nationality": ["CN", "US"]}})

	# A green-card holder.
	lib.us_person(_us) with input as _with({"subject": {"nationality": ["CN"], "permanent_residence": ["US"]}})
	not lib.us_person(_us) with input as _with({"subject": {"nationality": ["CN"]}})
	not lib.us_person(_us) with input as _with({"subject": {"country": "GB"}})

	# The explicit claim, in place of a nationality; only the boolean true.
	lib.us_person(_us) with input as _with({"subject": {"nationality": null, "us_person": true}})
	not lib.us_person(_us) with input as _with({"subject": {"nationality": null, "us_person": "true"}})
	not lib.us_person(_us) with input as _with({"subject": {"country": "GB", "nationality": null, "us_person": true}})

	# A territory is the United States, as a location and as a nationality;
	# so is a subdivision of it.
	lib.us_person(_us) with input as _with({"subject": {"country": "PR"}})
	lib.us_person(_us) with input as _with({"subject": {"country": "GU", "nationality": ["PR"]}})
	lib.us_person(_us) with input as _with({"subject": {"country": "US-CA"}})
}

test_nationality_and_parent_hq_known if {
	lib.nationality_known with input as _in
	lib.nationality_known with input as _with({"subject": {"nationality": null, "permanent_residence": ["IN"]}})
	lib.nationality_known with input as _with({"subject": {"nationality": null, "us_person": true}})
	not lib.nationality_known with input as _with({"subject": {"nationality": null}})
	not lib.nationality_known with input as _with({"subject": {"nationality": [], "us_person": false}})

	lib.parent_hq_known with input as _with({"subject": {"entity": {"parent_hq": "US"}}})
	not lib.parent_hq_known with input as _with({"subject": {"entity": {"parent_hq": ""}}})

}

test_country_of if {
	lib.country_of("UA-43") == "UA"
	lib.country_of("US-CA") == "US"
	lib.country_of("UA") == "UA"
	lib.country_of("") == ""
	lib.valid_code("UA-43")
	lib.valid_code("GB-ENG")
	not lib.valid_code("UA-")
	not lib.valid_code("UA-4444")
	not lib.valid_code("ua-43")
}

test_employee_carve_out if {
	emp := _with({"subject": {"employee": true, "nationality": ["CN"]}})
	lib.employee_carve_out(_tier1) with input as emp
	not lib.employee_carve_out(_tier1) with input as _with({"subject": {"nationality": ["CN"]}})
	not lib.employee_carve_out(_tier1) with input as object.union(emp, {"subject": {"employee": "true"}})
	not lib.employee_carve_out(_tier1) with input as object.union(emp, {"subject": {"entity": {"id": ""}}})
	not lib.employee_carve_out(_tier1) with input as object.union(emp, {"subject": {"entity": {"hq": "IN"}}})
	not lib.employee_carve_out(_tier1) with input as object.union(emp, {"subject": {"entity": {"parent_hq": "CN"}}})
}

test_destinations if {
	lib.destinations(_places) == [["location", "US"]] with input as _in

	# A foreign person in the United States: a deemed export to each home
	# country, after the location.
	lib.destinations(_places) == [["location", "US"], ["nationality", "CN"], ["nationality", "IN"]] with input as _with({"subject": {"nationality": ["CN"], "permanent_residence": ["IN"]}})

	# A U.S. person in the United States: the location only.
	lib.destinations(_places) == [["location", "US"]] with input as _with({"subject": {"nationality": ["US", "CN"]}})
	lib.destinations(_places) == [["location", "US"]] with input as _with({"subject": {"nationality": ["CN"], "permanent_residence": ["US"]}})

	# Abroad: the location, then other nationalities, never the United States.
	lib.destinations(_places) == [["location", "GB"], ["nationality", "CN"]] with input as _with({"subject": {"country": "GB", "nationality": ["GB", "US", "CN"]}})
	lib.destinations(_places) == [["location", "IN"]] with input as _with({"subject": {"country": "IN", "nationality": ["US"]}})

	# Malformed nationalities stay destinations.
	lib.destinations(_places) == [["location", "US"], ["nationality", "INVALID"]] with input as _with({"subject": {"nationality": ["invalid"]}})
}

test_destinations_employee_carve_out if {
	emp := _with({"subject": {"employee": true, "nationality": ["CN"]}})
	lib.destinations(_places) == [["location", "US"]] with input as emp
	lib.destinations(_places) == [["location", "US"], ["nationality", "CN"]] with input as object.union(emp, {"subject": {"entity": {"parent_hq": "IN"}}})

	# The carve-out never lifts a home in never_carved (an embargo): it
	# stays a destination, the others are still lifted.
	lib.destinations(_places) == [["location", "US"], ["nationality", "IR"]] with input as _with({"subject": {"employee": true, "nationality": ["CN", "IR"]}})
	lib.destinations(_places) == [["location", "US"], ["nationality", "UA-43"]] with input as _with({"subject": {"employee": true, "nationality": ["UA-43"]}})
}

test_destinations_territories if {
	# A U.S. person in Puerto Rico exports nothing; a Puerto Rican
	# nationality is never a deemed destination.
	lib.destinations(_places) == [["location", "PR"]] with input as _with({"subject": {"country": "PR", "nationality": ["US"]}})
	lib.destinations(_places) == [["location", "GB"], ["nationality", "CN"]] with input as _with({"subject": {"country": "GB", "nationality": ["PR", "CN"]}})
}

# --- Registries ----------------------------------------------------------------

test_registry if {
	lib.registry("licences") == [] with data.weightgate.registry as {}
	lib.registry("licences") == [{"id": "x"}] with data.weightgate.registry as {"licences": [{"id": "x"}]}
	lib.registry("licences") == [] with data.weightgate.registry as {"veu": [{"id": "x"}]}

	# A registry that is not a list is undefined: callers must fail closed.
	not lib.registry("licences") with data.weightgate.registry as {"licences": {"id": "x"}}
	not lib.registry("licences") with data.weightgate.registry as {"licences": null}
	not lib.registry("licences") with data.weightgate.registry as {"licences": "x"}
}

_reg := {"veu": [
	{"entity_id": "acme", "status": "uveu", "valid_until": "2026-01-02"},
	{"entity_id": "acme", "status": "old", "valid_until": "2026-01-01"},
	{"entity_id": "acme", "status": "future", "valid_from": "2026-01-03"},
	{"entity_id": "acme", "status": "bad date", "valid_from": "2026-1-1"},
	{"entity_id": "other", "status": "uveu"},
	{"status": "no id"},
	"acme",
	{"entity_id": "acme", "status": "open"},
]}

test_entries if {
	es := lib.entries("veu") with input as _in with data.weightgate.registry as _reg
	[e.status | some e in es] == ["uveu", "open"]

	# No entity id, no entries.
	lib.entries("veu") == [] with input as _with({"subject": {"entity": {"id": ""}}}) with data.weightgate.registry as _reg

	# No request date, no entries.
	lib.entries("veu") == [] with input as _with({"request": {"time": ""}}) with data.weightgate.registry as _reg
	lib.entries("attestations") == [] with input as _in with data.weightgate.registry as _reg
	not lib.entries("veu") with input as _in with data.weightgate.registry as {"veu": {}}
}

_rp := {"restricted_parties": [
	"acme",
	{"name": "nobody"},
	{"subject_id": "mallory", "name": "Mallory", "list": "DPL", "reason": "r1"},
	{"entity_id": "acme", "name": "Acme", "list": "Entity List", "reason": "r2"},
	{"entity_id": "acme", "name": "Acme again", "list": "MEU", "reason": "r3"},
]}

test_restricted_party if {
	p := lib.restricted_party with input as _in with data.weightgate.registry as _rp
	p.name == "Acme"

	m := lib.restricted_party with input as _with({"subject": {"id": "mallory"}}) with data.weightgate.registry as _rp
	m.name == "Mallory"

	not lib.restricted_party with input as _with({"subject": {"entity": {"id": "other"}}}) with data.weightgate.registry as _rp
	not lib.restricted_party with input as _with({"subject": {"id": "", "entity": {"id": ""}}}) with data.weightgate.registry as _rp
	not lib.restricted_party with input as _in with data.weightgate.registry as {}
	not lib.restricted_party with input as _in with data.weightgate.registry as {"restricted_parties": {"entity_id": "acme"}}
}

# --- Extensions --------------------------------------------------------------

_yes := {"allow": true, "code": "ok", "reason": "r", "basis": "b"}

_no := {"allow": false, "code": "base_no", "reason": "r", "basis": "b"}

test_with_extensions_no_extensions if {
	lib.with_extensions(_yes) == _yes with data.weightgate.extensions as {}
	lib.with_extensions(_no) == _no with data.weightgate.extensions as {}
	lib.with_extensions(_yes) == _yes with data.weightgate.extensions as {"acme": {"deny": set(), "k": 1}, "data_only": {"k": 2}}
}

test_with_extensions_deny_overrides_allow_only if {
	exts := {"acme": {"deny": {{"code": "acme_no", "reason": "Acme says no", "basis": "Acme 7"}}}}
	lib.with_extensions(_yes) == {"allow": false, "code": "acme_no", "reason": "Acme says no", "basis": "Acme 7"} with data.weightgate.extensions as exts
	lib.with_extensions(_no) == _no with data.weightgate.extensions as exts
}

test_with_extensions_first_in_sort_order if {
	exts := {
		"zeta": {"deny": {{"code": "a_code", "reason": "z", "basis": "z"}}},
		"alpha": {"deny": {{"code": "m_code", "reason": "a", "basis": "a"}, {"code": "b_code", "reason": "a", "basis": "a"}}},
	}
	d := lib.with_extensions(_yes) with data.weightgate.extensions as exts
	d.code == "b_code"
}

test_with_extensions_malformed_still_denies if {
	a := lib.with_extensions(_yes) with data.weightgate.extensions as {"acme": {"deny": true}}
	a.code == "extension_denied"
	a.allow == false
	contains(a.reason, "acme")

	b := lib.with_extensions(_yes) with data.weightgate.extensions as {"acme": {"deny": {"nope"}}}
	b.code == "extension_denied"
	b.reason == "denied by policy extension acme"
	b.basis == "weightgate policy extension acme"

	c := lib.with_extensions(_yes) with data.weightgate.extensions as {"acme": {"deny": {{"code": "", "reason": "why"}}}}
	c.code == "extension_denied"
	c.reason == "why"
}
