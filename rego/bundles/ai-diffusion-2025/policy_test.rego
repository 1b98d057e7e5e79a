# Tests for data.weightgate.decision: the table rows of version 1 (one test
# per row, in order), then the edges, the registries (licences,
# VEU, attestations, restricted parties), deemed exports, fine-tunes and the
# open-weight frontier. Run with `go test ./rego/`.
package weightgate_test

import data.weightgate

# A US requester with no entity asks for a weights file of a closed model
# trained with 3e26 operations. Each test patches what it needs.
_in := {
	"subject": {
		"anonymous": false,
		"id": "alice",
		"country": "US",
		"nationality": ["US"],
		"permanent_residence": null,
		"employee": false,
		"entity": {"name": "", "id": "", "hq": "US", "parent_hq": "US", "veu": "", "security_attested": false},
		"claims": {},
	},
	"model": {
		"id": "frontier-lab/frontier-x",
		"classified": true,
		"weights": "closed",
		"training_compute_flop": 3e26,
		"eccn": "",
		"revision": "0123abc",
		"base_model": "",
		"fine_tune_compute_flop": 0,
		"base": null,
	},
	"object": {"path": "model-00001-of-00004.safetensors", "kind": "weights", "size": 1000},
	"request": {"method": "GET", "api": "resolve", "range": "", "remote_addr": "192.0.2.1:4711", "time": "2026-01-02T03:04:05Z"},
	"frontier": {"flop": 0, "source": "none", "model": ""},
}

_anon := {"subject": {"anonymous": true, "id": "", "country": "", "nationality": null, "claims": null}}

_open := {"model": {"weights": "open", "training_compute_flop": 5e26}}

_unclassified := {"model": {"classified": false, "weights": "", "training_compute_flop": 0, "eccn": ""}}

_other := {"object": {"path": "config.json", "kind": "other"}}

_below := {"model": {"training_compute_flop": 9.99e25}}

_from(country) := {"subject": {"country": country}}

_at(country, hq, parent_hq) := {"subject": {"country": country, "entity": {"name": "Acme", "id": "acme", "hq": hq, "parent_hq": parent_hq}}}

_decide(patches) := d if {
	inp := _patch(_in, patches)
	d := weightgate.decision with input as inp
}

_patch(base, patches) := object.union_n(array.concat([base], patches))

# _decide_reg and _expect_reg decide with the given operator registries.
_decide_reg(patches, reg) := d if {
	inp := _patch(_in, patches)
	d := weightgate.decision with input as inp with data.weightgate.registry as reg
}

_expect_reg(patches, reg, allow, code) if {
	_check(_decide_reg_or_null(patches, reg), allow, code)
}

_decide_reg_or_null(patches, reg) := d if {
	d := _decide_reg(patches, reg)
} else := null

# _expect holds when the decision has the given allow and code and a
# non-empty reason and basis; it prints the decision when it does not.
_expect(patches, allow, code) if {
	_check(_decide_or_null(patches), allow, code)
}

_decide_or_null(patches) := d if {
	d := _decide(patches)
} else := null

_check(d, allow, code) if {
	d.allow == allow
	d.code == code
	d.reason != ""
	d.basis != ""
} else := false if {
	print("got", d, "want", allow, code)
}

# --- The table, row by row ---------------------------------------------------

# Row 1: any file of an open model, anyone.
test_row01_open_weights_anyone if {
	_expect([_open], true, "open_weights")
	_expect([_open, _anon], true, "open_weights")
	_expect([_open, _from("IR")], true, "open_weights")
	_expect([_open, _from("CN")], true, "open_weights")
	_expect([_open, _other, _anon], true, "open_weights")
}

# Row 2: anonymous, any file of a model that is not open.
test_row02_anonymous_not_open if {
	_expect([_anon], false, "authentication_required")
	_expect([_anon, _other], false, "authentication_required")
	_expect([_anon, _below], false, "authentication_required")
	_expect([_anon, _unclassified], false, "authentication_required")
}

# Row 3: any file of an unclassified model.
test_row03_unclassified_model if {
	_expect([_unclassified], false, "unclassified_model")
	_expect([_unclassified, _other], false, "unclassified_model")

	# weights "open" counts for nothing without a classification.
	_expect([{"model": {"classified": false, "weights": "open"}}], false, "unclassified_model")
}

# Row 4: a file of a closed model that is not weights.
test_row04_not_weights if {
	_expect([_other], true, "not_weights")
	_expect([_other, _from("IN")], true, "not_weights")
	_expect([_other, _below], true, "not_weights")

	# A model not controlled by 4E091 is not hidden from a country of
	# concern, so neither are its other files.
	_expect([_other, _below, _from("CN")], true, "not_weights")

	# Other files of a model hidden from the requester are refused with
	# the reason it is hidden.
	_expect([_other, _from("CN")], false, "country_of_concern")
	_expect([_other, _from("")], false, "unknown_destination")
	_expect([_other, _from("KP")], false, "embargoed_destination")
	_expect([_other, _below, _from("KP")], false, "embargoed_destination")
}

# Row 5: closed weights, no usable destination.
test_row05_unknown_destination if {
	_expect([_from("")], false, "unknown_destination")
	_expect([_from("  ")], false, "unknown_destination")
	_expect([_from("USA")], false, "unknown_destination")
	_expect([_from(null)], false, "unknown_destination")
	_expect([_below, _from("")], false, "unknown_destination")

	# A malformed headquarters cannot be screened either.
	_expect([_at("GB", "IRN", "")], false, "unknown_destination")
	_expect([_at("GB", "GB", "U")], false, "unknown_destination")
}

test_row05_unknown_destination_country_absent if {
	inp := json.remove(_in, ["subject/country"])
	d := weightgate.decision with input as inp
	_check(d, false, "unknown_destination")
}

# Row 6: closed weights, location or headquarters embargoed.
test_row06_embargoed_destination if {
	_expect([_from("IR")], false, "embargoed_destination")
	_expect([_from("KP")], false, "embargoed_destination")
	_expect([_from("SY")], false, "embargoed_destination")
	_expect([_from("CU")], false, "embargoed_destination")

	# Whatever the compute: below the threshold too.
	_expect([_below, _from("CU")], false, "embargoed_destination")
}

# Row 7: controlled, location or headquarters a country of concern.
test_row07_country_of_concern if {
	_expect([_from("CN")], false, "country_of_concern")
	_expect([_from("RU")], false, "country_of_concern")
	_expect([_at("US", "CN", "")], false, "country_of_concern")
}

# Row 8: controlled, location, headquarters and parent all in Tier 1.
test_row08_license_exception_aia if {
	_expect([_from("GB")], true, "license_exception_aia")
	_expect([_at("GB", "US", "JP")], true, "license_exception_aia")
	_expect([_at("TW", "TW", "TW")], true, "license_exception_aia")
	_expect([_at("SE", "ES", "ES")], true, "license_exception_aia")
}

# Row 9: controlled, anything else.
test_row09_license_required if {
	# Tier 2 location.
	_expect([_from("IN")], false, "license_required")
	_expect([_from("IL")], false, "license_required")

	# Tier 1 location, Tier 2 headquarters or parent.
	_expect([_at("GB", "IN", "")], false, "license_required")
	_expect([_at("GB", "GB", "CH")], false, "license_required")

	# Tier 2 location, Tier 1 headquarters: this bundle is stricter than
	# AIA, which would cover it.
	_expect([_at("IN", "US", "US")], false, "license_required")
}

# Row 10: below the threshold, not embargoed.
test_row10_not_controlled if {
	_expect([_below], true, "not_controlled")
	_expect([_below, _from("IN")], true, "not_controlled")

	# Countries of concern are not denied below the threshold.
	_expect([_below, _from("CN")], true, "not_controlled")
	_expect([{"model": {"training_compute_flop": 0}}, _from("IN")], true, "not_controlled")
}

# --- Edges -------------------------------------------------------------------

test_hong_kong_is_china if {
	d := _decide([_from("HK")])
	_check(d, false, "country_of_concern")
	contains(d.reason, "HK (Hong Kong, treated as China")
	_expect([_at("GB", "HK", "")], false, "country_of_concern")
}

test_macau_is_a_country_of_concern if {
	d := _decide([_from("MO")])
	_check(d, false, "country_of_concern")
	contains(d.reason, "MO (Macau, a country of concern)")
	_expect([_at("US", "US", "MO")], false, "country_of_concern")
}

# The rule as issued: D:5 of 15 Jan 2025 still lists Cambodia.
test_cambodia_is_d5_as_issued if {
	_expect([_from("KH")], false, "country_of_concern")
}

# "10^26 or more": exactly 1e26 is controlled, 9.99e25 is not.
test_threshold_is_inclusive if {
	_expect([{"model": {"training_compute_flop": 1e26}}, _from("IN")], false, "license_required")
	_expect([{"model": {"training_compute_flop": 100000000000000000000000000}}, _from("IN")], false, "license_required")
	_expect([{"model": {"training_compute_flop": 1e26}}], true, "not_an_export")
	_expect([{"model": {"training_compute_flop": 9.99e25}}, _from("IN")], true, "not_controlled")
	_expect([{"model": {"training_compute_flop": 99999999999999999999999999}}, _from("CN")], true, "not_controlled")
}

# A model its owner classified 4E091 is controlled whatever its recorded compute.
test_eccn_4e091_is_controlled_below_threshold if {
	_expect([_below, {"model": {"eccn": "4E091"}}, _from("IN")], false, "license_required")
	d := _decide([_below, {"model": {"eccn": "4e091"}}, _from("CN")])
	_check(d, false, "country_of_concern")
	contains(d.reason, "classified ECCN 4E091")
}

test_parent_hq_of_concern_with_tier1_location if {
	d := _decide([_at("GB", "GB", "CN")])
	_check(d, false, "country_of_concern")
	contains(d.reason, "ultimate parent is headquartered in CN")
}

test_embargoed_hq_with_tier1_location if {
	d := _decide([_at("DE", "IR", "")])
	_check(d, false, "embargoed_destination")
	contains(d.reason, "headquartered in IR")
	_expect([_at("DE", "DE", "KP")], false, "embargoed_destination")
	_expect([_below, _at("DE", "DE", "KP")], false, "embargoed_destination")
}

# An empty entity headquarters counts as the requester's own country.
# A missing headquarters still counts as the requester's country for every
# denial; a missing parent_hq never lets controlled weights through
# (unknown_destination, naming the claim).
test_missing_hq_counts_as_country if {
	_expect([_at("US", "", "US")], true, "not_an_export")
	_expect([_at("CN", "", "")], false, "country_of_concern")
	_expect([_at("IN", "", "")], false, "license_required")
	_expect([_at("IR", "", "")], false, "embargoed_destination")

	# Only the missing one: parent_hq falls back to the location, not to hq.
	_expect([_at("US", "IN", "")], false, "license_required")
	_expect([_at("IN", "US", "")], false, "license_required")
}

test_missing_parent_hq_unknown_destination if {
	d := _decide([_at("US", "US", "")])
	_check(d, false, "unknown_destination")
	contains(d.reason, "your token carries no parent_hq claim")
	_expect([_at("GB", "US", "")], false, "unknown_destination")
	_expect([_at("US", "", "")], false, "unknown_destination")

	# Before: the missing parent_hq was taken to be the location (US), and
	# the weights were released.
	_expect([_at("US", "US", "US")], true, "not_an_export")

	# Uncontrolled weights do not depend on it.
	_expect([_at("US", "US", ""), _below], true, "not_controlled")
}

test_missing_nationality_unknown_destination if {
	d := _decide([_person("US", null, null)])
	_check(d, false, "unknown_destination")
	contains(d.reason, "your token carries no nationality claim")
	_expect([_person("GB", [], null), _at("GB", "US", "US")], false, "unknown_destination")

	# Before: no nationality was read as a U.S. person's. The explicit claim,
	# or a permanent residence, is enough.
	_expect([_person("US", null, null), {"subject": {"us_person": true}}], true, "not_an_export")
	_expect([_person("US", null, ["US"])], true, "not_an_export")
	_expect([_person("US", null, null), {"subject": {"us_person": "true"}}], false, "unknown_destination")

	# A denial on the destinations the token names comes first.
	_expect([_person("CN", null, null)], false, "country_of_concern")
	_expect([_person("KP", null, null)], false, "embargoed_destination")
}

test_entity_absent_counts_as_country if {
	inp := json.remove(_in, ["subject/entity"])
	d := weightgate.decision with input as inp
	_check(d, false, "unknown_destination")
	contains(d.reason, "parent_hq")
}

test_country_codes_are_normalised if {
	_expect([_from("us")], true, "not_an_export")
	_expect([_from(" cn ")], false, "country_of_concern")
	_expect([_at("GB", "gb", "ir")], false, "embargoed_destination")
}

# Embargo comes before the other country rows: IR is also in D:5.
test_embargo_wins_over_concern if {
	_expect([_at("CN", "IR", "")], false, "embargoed_destination")
}

test_reason_names_model_and_country if {
	d := _decide([_from("CN")])
	d.reason == "frontier-lab/frontier-x is a closed-weight model trained with 3e+26 operations (ECCN 4E091); exports to CN (a country of concern, Country Group D:5) require a license from BIS, reviewed with a presumption of denial, and no license exception applies"
	contains(d.basis, "742.6(a)(13)")
}

test_reason_and_basis_cite_the_rule if {
	contains(_decide([_from("GB")]).basis, "License Exception AIA, 15 CFR 740.27")
	contains(_decide([]).basis, "not an export")
	contains(_decide([_open]).basis, "15 CFR 734.7(a)")
	contains(_decide([_from("IN")]).basis, "ECCN 4E091; 15 CFR 742.6(a)(13)")
	contains(_decide([_from("CN")]).basis, "Country Group D:5, Supplement No. 1 to part 740")
	contains(_decide([_at("GB", "IN", "")]).reason, "an entity headquartered in IN")
}

# Malformed input leaves the decision undefined: the engine answers
# policy_error.
test_malformed_input_is_undefined if {
	not _decide([{"object": {"kind": "bogus"}}])
	not _decide([{"model": {"weights": ""}}])
	not _decide([{"model": {"weights": "semi-open"}}])
	not _decide([{"model": {"training_compute_flop": "3e26"}}])
}

# Broken data cannot silently skip a check: closed weights become undefined.
test_broken_data_is_undefined if {
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.comprehensively_embargoed as null
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.d5_versions as "d5"
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.d5_versions as []
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.d5_versions as [{"from": "2026-1-1", "members": []}]
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.embargoed_regions as null
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.united_states as null
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.territory_parent as []
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.employee_carve_out_covers_d5 as "no"
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.control_threshold_flop as "1e26"
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.fine_tune_floor_flop as null
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.fine_tune_fraction as "0.25"
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.tier1_including_us as "US"

	# Files that are not closed weights do not depend on the lists.
	o := weightgate.decision with input as _patch(_in, [_open]) with data.weightgate.ai_diffusion as {}
	o.code == "open_weights"
}


# --- Threshold named in every closed-weights basis ---------------------------

test_basis_names_the_default_threshold if {
	every d in [_decide([]), _decide([_from("IN")]), _decide([_from("CN")]), _decide([_from("IR")]), _decide([_from("")]), _decide([_below])] {
		contains(d.basis, "control threshold 1e+26 operations: the ECCN 4E091 heading ('10^26 or more operations')")
	}
}

test_basis_names_the_threshold_for_every_closed_weights_code if {
	every d in [
		_decide([]),
		_decide([_from("IN")]),
		_decide([_from("CN")]),
		_decide([_from("IR")]),
		_decide([_from("")]),
		_decide([_below]),
		_decide_reg([_at("IN", "IN", "")], {"restricted_parties": [{"entity_id": "acme", "name": "Acme", "list": "Entity List", "reason": "r"}]}),
	] {
		contains(d.basis, "control threshold ")
	}

	# Decisions that are not about closed weights do not.
	not contains(_decide([_open]).basis, "control threshold")
	not contains(_decide([_other]).basis, "control threshold")
}

# --- Restricted parties ------------------------------------------------------

_rp := {"restricted_parties": [
	"not an object",
	{"name": "no ids at all", "list": "Entity List", "reason": "x"},
	{"entity_id": "blocked-corp", "name": "Blocked Corp", "list": "Entity List (Supplement No. 4 to part 744)", "reason": "listed party; policy of denial"},
	{"subject_id": "mallory", "name": "Mallory", "list": "Denied Persons List", "reason": "denied person"},
]}

_blocked := {"subject": {"country": "GB", "entity": {"name": "Blocked Corp", "id": "blocked-corp", "hq": "GB", "parent_hq": "GB"}}}

test_restricted_party_by_entity if {
	d := _decide_reg([_blocked], _rp)
	_check(d, false, "restricted_party")
	contains(d.reason, "Blocked Corp is on the restricted-party list Entity List (Supplement No. 4 to part 744) (listed party; policy of denial)")
	contains(d.basis, "Entity List (Supplement No. 4 to part 744)")

	# Whatever the compute and destination: before the embargo and
	# unknown-destination rows too.
	_expect_reg([_blocked, _below], _rp, false, "restricted_party")
	_expect_reg([_blocked, {"subject": {"country": "IR"}}], _rp, false, "restricted_party")
	_expect_reg([_blocked, {"subject": {"country": ""}}], _rp, false, "restricted_party")
}

test_restricted_party_by_subject if {
	_expect_reg([{"subject": {"id": "mallory"}}], _rp, false, "restricted_party")
	d := _decide_reg([{"subject": {"id": "mallory"}}], _rp)
	contains(d.reason, "Mallory is on the restricted-party list Denied Persons List")
}

test_restricted_party_other_requesters_unaffected if {
	_expect_reg([], _rp, true, "not_an_export")
	_expect_reg([_at("GB", "GB", "GB")], _rp, true, "license_exception_aia")

	# An entry without ids names nobody, even a requester without an entity.
	_expect_reg([{"subject": {"id": ""}}], _rp, true, "not_an_export")
}

# The spec's order: open weights and other files come first.
test_restricted_party_only_for_closed_weights if {
	_expect_reg([_blocked, _open], _rp, true, "open_weights")
	_expect_reg([_blocked, _other], _rp, false, "restricted_party")
}

test_restricted_party_fields_missing_get_fallbacks if {
	d := _decide_reg([_at("GB", "GB", "GB")], {"restricted_parties": [{"entity_id": "acme"}]})
	_check(d, false, "restricted_party")
	contains(d.reason, "acme is on the restricted-party list")
}

# --- Licences ----------------------------------------------------------------

_lic := {
	"id": "D1234567",
	"licensee": {"entity_id": "frontier-lab", "name": "Frontier Lab Inc."},
	"consignee": {"entity_id": "acme-india", "name": "Acme Research India"},
	"end_user": {"entity_id": "acme-india", "name": "Acme Research India"},
	"destinations": ["IN"],
	"models": ["frontier-lab/frontier-x"],
	"eccns": [],
	"not_before": "2026-01-01",
	"not_after": "2026-12-31",
	"conditions": "No reexport; weights held only at the Bengaluru site.",
}

_licence(patch) := {"licences": [object.union(_lic, patch)]}

# _replace(x, key, v): x with x[key] replaced by v (object.union would merge
# two objects).
_replace(x, key, v) := object.union(object.remove(x, [key]), {key: v})

_licence_with(key, v) := {"licences": [_replace(_lic, key, v)]}

_india := {"subject": {"country": "IN", "nationality": ["IN"], "entity": {"name": "Acme Research India", "id": "acme-india", "hq": "IN", "parent_hq": "IN"}}}

test_licensed if {
	d := _decide_reg([_india], _licence({}))
	_check(d, true, "licensed")
	startswith(d.basis, "BIS licence D1234567")
	contains(d.reason, "authorised by BIS licence D1234567 (licensee Frontier Lab Inc. (frontier-lab); consignee Acme Research India (acme-india); end user Acme Research India (acme-india); valid 2026-01-01 to 2026-12-31)")
	contains(d.basis, "conditions: No reexport; weights held only at the Bengaluru site.")
	contains(d.basis, "no cap on releases")
	contains(d.basis, "control threshold 1e+26")

	# An uncapped licence asks the gateway to count nothing.
	not d.releases
}

test_licence_conditions_default if {
	d := _decide_reg([_india], {"licences": [object.remove(_lic, ["conditions"])]})
	_check(d, true, "licensed")
	contains(d.basis, "conditions: none stated")
}

test_licensed_by_eccn if {
	_expect_reg([_india], _licence({"models": [], "eccns": ["4E091"]}), true, "licensed")
	_expect_reg([_india], _licence({"models": ["other/model"], "eccns": [" 4e091 "]}), true, "licensed")

	# Without models or eccns keys the licence must name the ECCN.
	_expect_reg([_india], {"licences": [object.remove(_lic, ["models", "eccns"])]}, false, "license_required")
	_expect_reg([_india], {"licences": [object.union(object.remove(_lic, ["models"]), {"eccns": ["4E091"]})]}, true, "licensed")

	# Another ECCN does not cover.
	_expect_reg([_india], _licence({"models": [], "eccns": ["4E090"]}), false, "license_required")
}

test_licence_for_wrong_destination if {
	_expect_reg([_india], _licence({"destinations": ["PK"]}), false, "license_required")
	_expect_reg([_india], _licence({"destinations": []}), false, "license_required")

	# Destinations are compared normalised.
	_expect_reg([_india], _licence({"destinations": ["pk", " in "]}), true, "licensed")
}

test_licence_for_wrong_model if {
	_expect_reg([_india], _licence({"models": ["frontier-lab/other"]}), false, "license_required")
}

# The end user is who receives the weights: the licence covers the
# requester's entity only when it is the end user, not when it is only the
# consignee or the licensee.
test_licence_for_wrong_end_user if {
	_expect_reg([_india], _licence({"end_user": {"entity_id": "someone-else", "name": "X"}}), false, "license_required")
	_expect_reg([_india], _licence({"end_user": {"entity_id": "someone-else", "name": "X"}, "licensee": {"entity_id": "acme-india", "name": "Acme"}}), false, "license_required")

	# A requester without an entity holds no licence.
	_expect_reg([{"subject": {"country": "IN"}}], _licence({"end_user": {"entity_id": "", "name": "X"}}), false, "license_required")
}

test_license_expired if {
	d := _decide_reg([_india], _licence({"not_before": "2025-01-01", "not_after": "2026-01-01"}))
	_check(d, false, "license_expired")
	contains(d.reason, "licence D1234567 is not valid on 2026-01-02 (valid 2025-01-01 to 2026-01-01)")
	contains(d.basis, "BIS licence D1234567 is outside its validity period")

	# Not yet valid is reported the same way.
	_expect_reg([_india], _licence({"not_before": "2026-01-03", "not_after": "2027-01-01"}), false, "license_expired")
}

# Both dates are inclusive.
test_licence_dates_inclusive if {
	_expect_reg([_india], _licence({"not_before": "2026-01-02", "not_after": "2026-01-02"}), true, "licensed")
	_expect_reg([_india], _licence({"not_before": "2025-01-02", "not_after": "2026-01-02"}), true, "licensed")
	_expect_reg([_india], _licence({"not_before": "2026-01-02", "not_after": "2027-01-02"}), true, "licensed")
	_expect_reg([_india], _licence({"not_before": "2025-01-02", "not_after": "2026-01-01"}), false, "license_expired")
	_expect_reg([_india], _licence({"not_before": "2026-01-03", "not_after": "2027-01-02"}), false, "license_expired")
}

# A request time that gives no date makes every licence invalid.
test_licence_request_time_malformed if {
	_expect_reg([_india, {"request": {"time": "yesterday"}}], _licence({}), false, "license_expired")
	_expect_reg([_india, {"request": {"time": "2026-01-02T03:04:05+01:00"}}], _licence({}), false, "license_expired")
}

# A valid licence wins over an expired one, whatever their order.
test_licence_valid_among_expired if {
	expired := object.union(_lic, {"id": "OLD", "not_after": "2025-12-31"})
	_expect_reg([_india], {"licences": [expired, _lic]}, true, "licensed")
	d := _decide_reg([_india], {"licences": [expired, _lic]})
	startswith(d.basis, "BIS licence D1234567")
}

# Malformed entries grant nothing (and are not reported as expired).
test_licence_malformed_entries_grant_nothing if {
	every reg in [
		{"licences": ["D1234567"]},
		{"licences": [null]},
		{"licences": [object.remove(_lic, ["id"])]},
		_licence({"id": ""}),
		_licence({"id": 7}),
		{"licences": [object.remove(_lic, ["licensee"])]},
		{"licences": [object.remove(_lic, ["consignee"])]},
		{"licences": [object.remove(_lic, ["end_user"])]},
		_licence_with("licensee", "Frontier Lab"),
		_replace(_lic, "licensee", {"entity_id": "frontier-lab"}),
		_licence({"consignee": {"entity_id": 7, "name": "Acme"}}),
		_licence_with("end_user", "acme-india"),
		_replace(_lic, "end_user", {"name": "Acme"}),
		_licence({"end_user": {"entity_id": 7, "name": "Acme"}}),
		_licence({"destinations": "IN"}),
		_licence({"destinations": [7]}),
		_licence({"models": "frontier-lab/frontier-x"}),
		_licence({"models": [], "eccns": "4E091"}),
		_licence({"models": [], "eccns": [4091]}),
		{"licences": [object.remove(_lic, ["not_after"])]},
		{"licences": [object.remove(_lic, ["not_before"])]},
		_licence({"not_before": "2026/01/01"}),
		_licence({"not_after": 20261231}),
		_licence({"conditions": ["no reexport"]}),
		_licence({"max_releases": 0}),
		_licence({"max_releases": -1}),
		_licence({"max_releases": 1.5}),
		_licence({"max_releases": "3"}),
		# The old schema (holder, valid_from, valid_until) is not read: it
		# names no consignee or end user.
		{"licences": [{"id": "D1234567", "holder": {"entity_id": "acme-india", "name": "Acme"}, "destinations": ["IN"], "models": ["frontier-lab/frontier-x"], "valid_from": "2026-01-01", "valid_until": "2026-12-31"}]},
	] {
		_expect_reg([_india], reg, false, "license_required")
	}
}

# --- Licence caps: releases counted by the gateway ---------------------------

_capped := _licence({"max_releases": 3})

test_licence_cap_asks_for_a_release if {
	d := _decide_reg([_india], _capped)
	_check(d, true, "licensed")
	d.releases == [{"licence": "D1234567", "max_releases": 3}]
	contains(d.reason, "3 of its 3 releases left before this one")
	contains(d.basis, "at most 3 releases of weights files")

	e := _decide_reg([_india, {"licence_releases": {"D1234567": 2}}], _capped)
	_check(e, true, "licensed")
	contains(e.reason, "1 of its 3 releases left before this one")

	# Counts of other licences do not matter.
	_expect_reg([_india, {"licence_releases": {"OTHER": 9}}], _capped, true, "licensed")
}

test_license_exhausted if {
	every n in [3, 4, 100] {
		d := _decide_reg([_india, {"licence_releases": {"D1234567": n}}], _capped)
		_check(d, false, "license_exhausted")
		contains(d.reason, "licence D1234567 allows at most 3 releases of weights files, all of which have been made")
		contains(d.basis, "BIS licence D1234567 is exhausted")
		not d.releases
	}
}

# A count that is not a number cannot prove a release is left: exhausted.
test_licence_count_malformed_is_exhausted if {
	every n in ["1", null, true, false, {"n": 1}] {
		_expect_reg([_india, {"licence_releases": {"D1234567": n}}], _capped, false, "license_exhausted")
	}
	every counts in ["D1234567", [0], 0, null] {
		_expect_reg([_india, {"licence_releases": counts}], _capped, false, "license_exhausted")
	}

	# No counts at all, or none for this licence: none made yet.
	_expect_reg([_india, {"licence_releases": {}}], _capped, true, "licensed")
	_expect_reg([_india], _capped, true, "licensed")
}

# An exhausted licence gives way to another that covers the release.
test_licence_exhausted_falls_back_to_another if {
	other := object.union(_lic, {"id": "D2", "max_releases": 1})
	reg := {"licences": [object.union(_lic, {"max_releases": 1}), other]}
	d := _decide_reg([_india, {"licence_releases": {"D1234567": 1}}], reg)
	_check(d, true, "licensed")
	d.releases == [{"licence": "D2", "max_releases": 1}]
	_expect_reg([_india, {"licence_releases": {"D1234567": 1, "D2": 1}}], reg, false, "license_exhausted")
}

# An expired licence is reported as expired, not exhausted; an exhausted one
# in force is reported before an expired one.
test_licence_exhausted_and_expired if {
	_expect_reg([_india, {"licence_releases": {"D1234567": 3}}], _licence({"max_releases": 3, "not_after": "2026-01-01"}), false, "license_expired")
	old := object.union(_lic, {"id": "OLD", "not_after": "2025-12-31"})
	_expect_reg([_india, {"licence_releases": {"D1234567": 3}}], {"licences": [old, object.union(_lic, {"max_releases": 3})]}, false, "license_exhausted")
}

# A deemed export's capped licence is counted even when the location's
# release needs none.
test_licence_cap_of_deemed_destination_counted if {
	gb := {"subject": {"country": "GB", "nationality": ["IN"], "entity": {"name": "Acme Research India", "id": "acme-india", "hq": "GB", "parent_hq": "GB"}}}
	d := _decide_reg([gb], _capped)
	_check(d, true, "license_exception_aia")
	d.releases == [{"licence": "D1234567", "max_releases": 3}]

	# One licence covering two destinations is one release.
	two := {"subject": {"country": "IN", "nationality": ["PK"], "entity": {"name": "Acme Research India", "id": "acme-india", "hq": "IN", "parent_hq": "IN"}}}
	e := _decide_reg([two], _licence({"max_releases": 3, "destinations": ["IN", "PK"]}))
	_check(e, true, "licensed")
	e.releases == [{"licence": "D1234567", "max_releases": 3}]

	# The deemed destination's exhausted licence refuses.
	_expect_reg([gb, {"licence_releases": {"D1234567": 3}}], _capped, false, "license_exhausted")
}

# Other files of the model and open weights are not releases.
test_licence_cap_only_weights if {
	d := _decide_reg([_india, _other, {"licence_releases": {"D1234567": 3}}], _capped)
	_check(d, true, "not_weights")
	not d.releases
}

# A licence never overrides an embargo or a country of concern (conservative).
test_licence_does_not_override_concern_or_embargo if {
	_expect_reg([_at("CN", "CN", "CN")], {"licences": [object.union(_lic, {"end_user": {"entity_id": "acme", "name": "Acme"}, "destinations": ["CN"]})]}, false, "country_of_concern")
	_expect_reg([_at("IR", "IR", "IR")], {"licences": [object.union(_lic, {"end_user": {"entity_id": "acme", "name": "Acme"}, "destinations": ["IR"]})]}, false, "embargoed_destination")
}

# A Tier 1 location with a Tier 2 headquarters needs a licence too.
test_licence_tier1_location_tier2_hq if {
	reg := {"licences": [object.union(_lic, {"end_user": {"entity_id": "acme", "name": "Acme"}, "destinations": ["GB"]})]}
	_expect_reg([_at("GB", "IN", "IN")], reg, true, "licensed")
	_expect_reg([_at("GB", "IN", "IN")], {}, false, "license_required")
}

# A registry that is not a list is an operator error: undefined decision
# (policy_error) for closed weights.
test_registry_not_a_list_is_undefined if {
	every reg in [
		{"licences": {"id": "D1234567"}},
		{"veu": "globalcloud"},
		{"attestations": 1},
		{"restricted_parties": {"entity_id": "acme"}},
		{"restricted_parties": null},
	] {
		not _decide_reg([_india], reg)
	}

	# Empty and missing registries are fine.
	_expect_reg([_india], {"licences": [], "veu": [], "attestations": [], "restricted_parties": []}, false, "license_required")
	_expect_reg([_india], {}, false, "license_required")

	# Open files do not read the registries; other files of a closed model
	# do (whether the model is hidden), and fail closed.
	_expect_reg([_open], {"licences": {}}, true, "open_weights")
	_expect_reg([_other], {"licences": {}}, false, "policy_error")
	_expect_reg([_other], {"restricted_parties": null}, false, "policy_error")
}

# --- Data Center VEU -----------------------------------------------------------

_veu_reg := {"veu": [
	{"entity_id": "globalcloud", "name": "GlobalCloud Inc.", "status": "uveu", "countries": ["IN", "AE", "SG", "BR", "CN"], "sites": ["Mumbai DC-1"], "valid_from": "2025-06-01", "valid_until": "2030-05-31"},
	{"entity_id": "gulf-dc", "name": "Gulf Data Centres LLC", "status": "nveu", "countries": ["AE"], "sites": ["Dubai DC-1"]},
]}

_globalcloud(country) := {"subject": {"country": country, "entity": {"name": "GlobalCloud Inc.", "id": "globalcloud", "hq": "US", "parent_hq": "US"}}}

test_veu_authorised_in_listed_country if {
	d := _decide_reg([_globalcloud("IN")], _veu_reg)
	_check(d, true, "veu_authorised")
	contains(d.reason, "Universal Data Center Validated End User (UVEU) listed for IN (GlobalCloud Inc.)")
	contains(d.basis, "15 CFR 748.15")
	contains(d.basis, "UNCONFIRMED")
	_expect_reg([_globalcloud("AE")], _veu_reg, true, "veu_authorised")
}

test_veu_unlisted_country_denied if {
	d := _decide_reg([_globalcloud("MY")], _veu_reg)
	_check(d, false, "license_required")
	contains(d.reason, "UVEU authorisation does not cover MY")
}

test_veu_in_d5_denied if {
	_expect_reg([_globalcloud("CN")], _veu_reg, false, "country_of_concern")
}

# Tier 1 locations are covered by AIA before the VEU row.
test_veu_tier1_location_is_aia if {
	_expect_reg([_globalcloud("GB")], _veu_reg, true, "license_exception_aia")
}

test_veu_requires_tier1_headquarters if {
	_expect_reg([_globalcloud("IN"), {"subject": {"entity": {"hq": "SG"}}}], _veu_reg, false, "license_required")
	_expect_reg([_globalcloud("IN"), {"subject": {"entity": {"parent_hq": "SG"}}}], _veu_reg, false, "license_required")
}

test_veu_validity_dates if {
	expired := {"veu": [object.union(_veu_reg.veu[0], {"valid_until": "2026-01-01"})]}
	_expect_reg([_globalcloud("IN")], expired, false, "license_required")
	boundary := {"veu": [object.union(_veu_reg.veu[0], {"valid_from": "2026-01-02", "valid_until": "2026-01-02"})]}
	_expect_reg([_globalcloud("IN")], boundary, true, "veu_authorised")
}

test_veu_other_entity_or_malformed if {
	_expect_reg([_globalcloud("IN"), {"subject": {"entity": {"id": "othercloud"}}}], _veu_reg, false, "license_required")
	every reg in [
		{"veu": ["globalcloud"]},
		{"veu": [object.union(_veu_reg.veu[0], {"status": 1})]},
		{"veu": [object.union(_veu_reg.veu[0], {"status": "veu"})]},
		{"veu": [object.union(_veu_reg.veu[0], {"countries": "IN"})]},
		{"veu": [object.union(_veu_reg.veu[0], {"valid_until": "31/05/2030"})]},
	] {
		_expect_reg([_globalcloud("IN")], reg, false, "license_required")
	}
}

# The claim is only set when the configuration trusts it.
test_veu_trusted_claim if {
	claim := {"subject": {"entity": {"veu": "uveu"}}}
	d := _decide([_globalcloud("IN"), claim])
	_check(d, true, "veu_authorised")
	contains(d.reason, "by a claim this gateway trusts")
	_expect([_globalcloud("CN"), claim], false, "country_of_concern")
	_expect([_globalcloud("IN"), claim, {"subject": {"entity": {"hq": "IN"}}}], false, "license_required")

	# An untrusted VEU claim in the raw claims counts for nothing.
	_expect([_globalcloud("IN"), {"subject": {"claims": {"veu": "uveu"}}}], false, "license_required")
}

# NVEU does not authorise receipt (UNCONFIRMED split; conservative).
test_nveu_is_license_required if {
	gulf := {"subject": {"country": "AE", "entity": {"name": "Gulf", "id": "gulf-dc", "hq": "US", "parent_hq": "US"}}}
	d := _decide_reg([gulf], _veu_reg)
	_check(d, false, "license_required")
	contains(d.reason, "National Data Center VEU (NVEU) status does not authorise it to receive controlled weights")

	c := _decide([gulf, {"subject": {"entity": {"veu": "nveu"}}}])
	_check(c, false, "license_required")
	contains(c.reason, "NVEU")

	# Without VEU status the reason does not mention it.
	n := _decide([gulf])
	not contains(n.reason, "VEU")
}

# UVEU is reported before an AIA attestation.
test_veu_before_aia_secured if {
	reg := object.union(_veu_reg, {"attestations": [
		{"id": "A-GC-IN", "entity_id": "globalcloud", "site": {"name": "Mumbai DC-1", "country": "IN"}, "standard": "Supp. 10", "attested_on": "2025-07-01", "not_after": "2027-06-30"},
		{"id": "A-GC-MY", "entity_id": "globalcloud", "site": {"name": "Johor DC-5", "country": "MY"}, "standard": "Supp. 10", "attested_on": "2025-07-01", "not_after": "2027-06-30"},
	]})
	_expect_reg([_globalcloud("IN")], reg, true, "veu_authorised")
	_expect_reg([_globalcloud("MY")], reg, true, "license_exception_aia_secured")
}

# --- License Exception AIA for Tier-1-headquartered entities outside Tier 1 --

_att := {
	"id": "ATT-NW-IN-1",
	"entity_id": "northwind",
	"name": "Northwind Labs Ltd",
	"site": {"name": "Bengaluru DC-1", "country": "IN"},
	"standard": "Supplement No. 10 to part 748",
	"attested_on": "2026-01-01",
	"not_after": "2026-12-31",
}

_attest(patch) := {"attestations": [object.union(_att, patch)]}

_northwind(country) := {"subject": {"country": country, "entity": {"name": "Northwind Labs Ltd", "id": "northwind", "hq": "GB", "parent_hq": "US"}}}

test_aia_secured_attested_entity_in_tier2 if {
	d := _decide_reg([_northwind("IN")], _attest({}))
	_check(d, true, "license_exception_aia_secured")
	contains(d.reason, "security posture attested for its site in IN (attestation ATT-NW-IN-1, Bengaluru DC-1: Supplement No. 10 to part 748, attested on 2026-01-01, expires 2026-12-31)")
	contains(d.basis, "740.2(a)(9)(ii)")
	contains(d.basis, "UNCONFIRMED")

	# The basis names the attestation relied on.
	contains(d.basis, "relied on attestation ATT-NW-IN-1 for site Bengaluru DC-1 (IN), expires 2026-12-31")

	# Without an attestation: the conservative reading denies.
	_expect_reg([_northwind("IN")], {}, false, "license_required")
}

# An attestation covers the site's country only: the same entity elsewhere
# in Tier 2 needs its own.
test_aia_secured_attestation_per_site if {
	_expect_reg([_northwind("MY")], _attest({}), false, "license_required")
	_expect_reg([_northwind("MY")], _attest({"site": {"name": "Johor DC-5", "country": " my "}}), true, "license_exception_aia_secured")

	two := {"attestations": [_att, object.union(_att, {"id": "ATT-NW-MY-1", "site": {"name": "Johor DC-5", "country": "MY"}})]}
	d := _decide_reg([_northwind("MY")], two)
	_check(d, true, "license_exception_aia_secured")
	contains(d.basis, "relied on attestation ATT-NW-MY-1 for site Johor DC-5 (MY)")

	# A site without a name is named by its country.
	e := _decide_reg([_northwind("IN")], {"attestations": [_replace(_att, "site", {"country": "IN"})]})
	contains(e.basis, "for site IN (IN)")

	# A deemed export to a country without an attested site is not covered.
	_expect_reg([_northwind("IN"), {"subject": {"nationality": ["MY"]}}], _attest({}), false, "license_required")
}

test_aia_secured_attestation_expired if {
	_expect_reg([_northwind("IN")], _attest({"not_after": "2026-01-01"}), false, "license_required")
	_expect_reg([_northwind("IN")], _attest({"not_after": "2026-01-02"}), true, "license_exception_aia_secured")

	# A valid attestation wins over an expired one, whatever their order.
	d := _decide_reg([_northwind("IN")], {"attestations": [object.union(_att, {"id": "OLD", "not_after": "2025-12-31"}), _att]})
	contains(d.basis, "relied on attestation ATT-NW-IN-1")
}

test_aia_secured_attestation_malformed if {
	every reg in [
		_attest({"attested_on": "2026-01-03"}), # attested in the future
		_attest({"attested_on": "January"}),
		{"attestations": [object.remove(_att, ["attested_on"])]},
		{"attestations": [object.remove(_att, ["standard"])]},
		{"attestations": [object.remove(_att, ["id"])]},
		{"attestations": [object.remove(_att, ["site"])]},
		# Every attestation expires: one without an expiry attests nothing.
		{"attestations": [object.remove(_att, ["not_after"])]},
		_attest({"not_after": "2026/12/31"}),
		{"attestations": [_replace(_att, "site", "IN")]},
		{"attestations": [_replace(_att, "site", {"name": "Bengaluru DC-1"})]},
		_attest({"standard": ""}),
		_attest({"id": ""}),
		_attest({"entity_id": "other"}),
		{"attestations": ["northwind"]},
		# The old schema (one entry per entity, optional dates) is not read.
		{"attestations": [{"entity_id": "northwind", "name": "Northwind", "standard": "Supp. 10", "attested_on": "2026-01-01"}]},
	] {
		_expect_reg([_northwind("IN")], reg, false, "license_required")
	}
	_expect_reg([_northwind("IN")], _attest({"attested_on": "2026-01-02"}), true, "license_exception_aia_secured")
}

test_aia_secured_requires_tier1_headquarters if {
	_expect_reg([_northwind("IN"), {"subject": {"entity": {"hq": "IN"}}}], _attest({}), false, "license_required")
	_expect_reg([_northwind("IN"), {"subject": {"entity": {"parent_hq": "SG"}}}], _attest({}), false, "license_required")
}

test_aia_secured_not_in_concern_or_embargo if {
	_expect_reg([_northwind("CN")], _attest({"site": {"country": "CN"}}), false, "country_of_concern")
	_expect_reg([_northwind("MO")], _attest({"site": {"country": "MO"}}), false, "country_of_concern")
	_expect_reg([_northwind("KP")], _attest({"site": {"country": "KP"}}), false, "embargoed_destination")
}

# The entity-wide claim names no site and no expiry: it no longer
# authorises (AIA's conditions are per site).
test_aia_secured_entity_claim_not_enough if {
	_expect([_northwind("IN"), {"subject": {"entity": {"security_attested": true}}}], false, "license_required")
	_expect([_northwind("IN"), {"subject": {"entity": {"security_attested": false}, "claims": {"security_attested": true}}}], false, "license_required")
	_expect([_northwind("IN"), {"subject": {"entity": {"security_attested": "true"}}}], false, "license_required")
}

# --- Deemed exports ------------------------------------------------------------

_person(country, nationality, residence) := {"subject": {"country": country, "nationality": nationality, "permanent_residence": residence}}

test_deemed_export_cn_national_in_us_denied if {
	d := _decide([_person("US", ["CN"], null)])
	_check(d, false, "country_of_concern")
	contains(d.reason, "as a deemed export to CN, a country of your nationality")
	contains(d.reason, "exports to CN (a country of concern, Country Group D:5) require a license from BIS, reviewed with a presumption of denial")
	not contains(d.reason, "prohibited")
}

test_deemed_export_dual_us_cn_national_in_us_allowed if {
	_expect([_person("US", ["US", "CN"], null)], true, "not_an_export")
	_expect([_person("US", ["CN", "US"], null)], true, "not_an_export")
}

test_deemed_export_green_card_holder_allowed if {
	_expect([_person("US", ["CN"], ["US"])], true, "not_an_export")
	_expect([_person("US", ["IR"], ["US"])], true, "not_an_export")
}

test_deemed_export_permanent_residence_counts if {
	d := _decide([_person("US", ["GB"], ["CN"])])
	_check(d, false, "country_of_concern")
	contains(d.reason, "as a deemed export to CN, your country of permanent residence")
}

test_deemed_export_embargoed_nationality if {
	d := _decide([_person("US", ["IR"], null)])
	_check(d, false, "embargoed_destination")
	contains(d.reason, "cannot be released to you as a deemed export to IR, a country of your nationality: IR is a comprehensively embargoed destination")

	# Whatever the compute, as for a location.
	_expect([_person("US", ["IR"], null), _below], false, "embargoed_destination")

	# Countries of concern are not denied below the threshold.
	_expect([_person("US", ["CN"], null), _below], true, "not_controlled")
}

test_deemed_export_tier2_nationality_needs_licence if {
	d := _decide([_person("US", ["IN"], null)])
	_check(d, false, "license_required")
	contains(d.reason, "release to you, acting for an entity headquartered in US, as a deemed export to IN, a country of your nationality, requires a license")
}

test_deemed_export_tier1_nationality_allowed if {
	_expect([_person("US", ["GB"], null)], true, "license_exception_aia")
	_expect([_person("DE", ["FR", "JP"], ["NL"])], true, "license_exception_aia")
}

# A release abroad to a third-country national is a deemed reexport; a
# release to a U.S. national abroad is never an export to the United States.
test_deemed_export_abroad if {
	_expect([_person("GB", ["CN"], null)], false, "country_of_concern")
	_expect([_person("GB", ["US"], null)], true, "license_exception_aia")
	_expect([_person("IN", ["US"], null)], false, "license_required")
}

test_deemed_export_invalid_nationality_unknown_destination if {
	d := _decide([_person("US", ["invalid"], null)])
	_check(d, false, "unknown_destination")
	contains(d.reason, "nationalities or permanent residences is not an ISO 3166 country or subdivision code")
	_expect([_person("US", ["GB", "invalid"], null)], false, "unknown_destination")
	_expect([_person("US", ["GB"], ["invalid"])], false, "unknown_destination")
	_expect([_person("US", "CN", null)], false, "unknown_destination")
	_expect([_person("US", [156], null)], false, "unknown_destination")

	# A U.S. person in the United States has no deemed destination at all.
	_expect([_person("US", ["US", "invalid"], null)], true, "not_an_export")
}

test_deemed_export_nationalities_normalised if {
	_expect([_person("US", [" cn "], null)], false, "country_of_concern")
	_expect([_person("US", ["us", "cn"], null)], true, "not_an_export")
}

_employee(parent) := {"subject": {
	"country": "US", "nationality": ["CN"], "employee": true,
	"entity": {"name": "Frontier Lab", "id": "frontier-lab", "hq": "US", "parent_hq": parent},
}}

# The carve-out lifts a deemed export to a D:5 country only when the operator
# chose so (employee_carve_out_d5: include); by default the nationality stays
# a destination.
test_deemed_export_employee_carve_out if {
	_expect([_employee("US")], false, "country_of_concern")
	inc := {"employee_carve_out_d5": "include"}
	_check(_decide_set([_employee("US")], inc), true, "license_exception_aia")
	_check(_decide_set([_employee("GB")], inc), true, "license_exception_aia")
	_check(_decide_set([_employee("US")], {"employee_carve_out_d5": "exclude"}), false, "country_of_concern")

	# A nationality outside D:5 and the embargoes is lifted either way.
	_expect([_employee("US"), {"subject": {"nationality": ["IN"]}}], true, "license_exception_aia")
	_expect([_employee("GB"), {"subject": {"nationality": ["IN"]}}], true, "license_exception_aia")

	# Only with a Tier 1 headquarters and parent.
	_check(_decide_set([_employee("IN")], inc), false, "country_of_concern")
	_check(_decide_set([_employee("US"), {"subject": {"entity": {"hq": "SG"}}}], inc), false, "country_of_concern")

	# Only for a verified employee of an identified entity.
	_check(_decide_set([_employee("US"), {"subject": {"employee": false}}], inc), false, "country_of_concern")
	_check(_decide_set([_employee("US"), {"subject": {"entity": {"id": ""}}}], inc), false, "country_of_concern")
}

# The carve-out never lifts a comprehensive embargo or an embargoed region,
# whatever the operator chose for D:5. Before, an Iranian employee of a US
# lab in the US got the weights under License Exception AIA.
test_deemed_export_employee_carve_out_never_lifts_embargo if {
	inc := {"employee_carve_out_d5": "include"}
	every n in ["IR", "CU", "KP", "SY", "UA-43", "UA-40", "UA-14", "UA-09"] {
		d := _decide_set([_employee("US"), {"subject": {"nationality": [n]}}], inc)
		_check(d, false, "embargoed_destination")
		contains(d.reason, sprintf("as a deemed export to %s", [n]))
		d.visible == false
	}
	_expect([_employee("US"), {"subject": {"nationality": ["IR"]}}], false, "embargoed_destination")
	_expect([_employee("GB"), {"subject": {"nationality": ["GB", "IR"]}}], false, "embargoed_destination")

	# Also for the files that are not weights: the model is hidden.
	_expect([_employee("US"), _other, {"subject": {"nationality": ["IR"]}}], false, "embargoed_destination")
}

# Most restrictive destination wins: embargoed_destination >
# country_of_concern > license_expired > license_required > any allow.
test_deemed_export_most_restrictive_wins if {
	_expect([_person("IN", ["CN"], null)], false, "country_of_concern")
	_expect([_person("CN", ["IR"], null)], false, "embargoed_destination")
	_expect([_person("IR", ["CN"], null)], false, "embargoed_destination")

	expired := _licence({"not_after": "2025-12-31"})

	# The location's expired licence beats a nationality's missing licence ...
	_expect_reg([_india, {"subject": {"nationality": ["PK"]}}], expired, false, "license_expired")

	# ... and a nationality's expired licence beats the location's missing one.
	pk := {"subject": {"country": "PK", "nationality": ["IN"]}}
	d := _decide_reg([_india, pk], expired)
	_check(d, false, "license_expired")
	contains(d.reason, "as a deemed export to IN, a country of your nationality")

	# Any denial beats any allow.
	_expect_reg([_india, {"subject": {"nationality": ["PK"]}}], _licence({}), false, "license_required")
	_expect_reg([_india, {"subject": {"nationality": ["CN"]}}], _licence({}), false, "country_of_concern")
}

# Among allows the location's is reported.
test_deemed_export_location_allow_reported if {
	reg := object.union(_veu_reg, {"licences": [object.union(_lic, {"end_user": {"entity_id": "globalcloud"}, "destinations": ["MY"]})]})
	d := _decide_reg([_globalcloud("IN"), {"subject": {"nationality": ["MY"]}}], reg)
	_check(d, true, "veu_authorised")

	# The nationality's licence is what lets it through.
	_expect_reg([_globalcloud("IN"), {"subject": {"nationality": ["MY"]}}], _veu_reg, false, "license_required")

	# An IN national at a US entity in the US with a licence for IN.
	us := {"subject": {"country": "US", "nationality": ["IN"], "entity": {"id": "acme-india", "hq": "US", "parent_hq": "US"}}}
	_expect_reg([us], _licence({}), true, "license_exception_aia")
	_expect_reg([us], {}, false, "license_required")
}

# --- Fine-tunes (ECCN 4E091 exclusion (a)) -------------------------------------

_open_base(flop) := {"id": "open-lab/big-open", "found": true, "classified": true, "weights": "open", "training_compute_flop": flop, "eccn": "EAR99"}

_tune(base, ft, total) := {"model": {"id": "tune-lab/tuned", "base_model": "open-lab/big-open", "base": base, "fine_tune_compute_flop": ft, "training_compute_flop": total}}

# Base 2e26: the floor is max(2.5e25, 25% of 2e26 = 5e25) = 5e25.
test_fine_tune_at_and_above_fraction_floor if {
	d := _decide([_tune(_open_base(2e26), 5e25, 2.5e26), _from("IN")])
	_check(d, true, "published_base_fine_tune")
	contains(d.reason, "fine-tune of the open-weight (published) model open-lab/big-open with 5e+25 operations of further training, not more than 5e+25")
	contains(d.basis, "exclusion (a)")
	contains(d.basis, "control threshold 1e+26")

	c := _decide([_tune(_open_base(2e26), 5.0000001e25, 2.5e26), _from("IN")])
	_check(c, false, "license_required")
	contains(c.reason, "trained with 2.50000001e+26 operations in total, fine-tuning of open-lab/big-open included (ECCN 4E091)")
	_expect([_tune(_open_base(2e26), 5.0000001e25, 2.5e26)], true, "not_an_export")
}

# Base 8e25: 25% is 2e25, so the floor is 2.5e25.
test_fine_tune_at_and_above_absolute_floor if {
	_expect([_tune(_open_base(8e25), 2.5e25, 0), _from("IN")], true, "published_base_fine_tune")
	_expect([_tune(_open_base(8e25), 2.5000001e25, 0), _from("IN")], false, "license_required")
	_expect([_tune(_open_base(8e25), 2.6e25, 1.06e26), _from("CN")], false, "country_of_concern")
}

# Above the floor but below the threshold in total: still not controlled.
test_fine_tune_above_floor_below_threshold if {
	d := _decide([_tune(_open_base(1e25), 3e25, 4e25), _from("IN")])
	_check(d, true, "published_base_fine_tune")
	contains(d.reason, "exceeds 2.5e+25, but its 4e+25 operations in total are below the 1e+26 threshold")
}

# The total is the greater of the recorded compute and base + fine-tune.
test_fine_tune_total if {
	_expect([_tune(_open_base(7e25), 3e25, 0), _from("IN")], false, "license_required")
	_expect([_tune(_open_base(6e25), 3e25, 0), _from("IN")], true, "published_base_fine_tune")
	_expect([_tune(_open_base(6e25), 3e25, 1e26), _from("IN")], false, "license_required")
}

# A base that is not found, unclassified or closed: judged on the total.
test_fine_tune_base_not_open_judged_on_total if {
	missing := {"id": "open-lab/big-open", "found": false, "classified": false, "weights": "", "training_compute_flop": 0, "eccn": ""}
	_expect([_tune(missing, 1e24, 3e26), _from("IN")], false, "license_required")
	_expect([_tune(missing, 1e24, 9e25), _from("IN")], true, "not_controlled")

	unclassified := object.union(missing, {"found": true})
	_expect([_tune(unclassified, 1e24, 3e26), _from("IN")], false, "license_required")

	closed := object.union(_open_base(3e26), {"weights": "closed"})
	_expect([_tune(closed, 1e24, 1e24), _from("IN")], false, "license_required")
	_expect([_tune(object.union(closed, {"training_compute_flop": 5e25}), 1e24, 1e24), _from("IN")], true, "not_controlled")

	# No base object at all.
	_expect([_tune(null, 1e24, 3e26), _from("IN")], false, "license_required")
	_expect([_tune(null, 1e24, 9e25), _from("IN")], true, "not_controlled")
}

# Classified 4E091 by its owner: controlled whatever the fine-tune compute.
test_fine_tune_classified_4e091 if {
	_expect([_tune(_open_base(2e26), 1e24, 2e26), {"model": {"eccn": "4E091"}}, _from("IN")], false, "license_required")
}

# fine_tune_compute_flop is ignored for a model that is not a fine-tune.
test_not_a_fine_tune_ignores_fine_tune_compute if {
	_expect([{"model": {"fine_tune_compute_flop": 5e26}}, _below, _from("IN")], true, "not_controlled")
}

# --- The open-weight frontier (ECCN 4E091 exclusion (b)) -----------------------

_frontier(flop, source, model) := {"frontier": {"flop": flop, "source": source, "model": model}}

test_frontier_raises_threshold if {
	f := _frontier(3e26, "catalog", "open-lab/huge-open")
	d := _decide([f, {"model": {"training_compute_flop": 2e26}}, _from("IN")])
	_check(d, true, "below_open_frontier")
	contains(d.reason, "fewer than the 3e+26 of the open-weight frontier (the catalog's largest classified open-weight model, open-lab/huge-open)")
	contains(d.basis, "exclusion (b)")
	contains(d.basis, "control threshold 3e+26 operations: the open-weight frontier, 3e+26 operations (the catalog's largest classified open-weight model, open-lab/huge-open), is above the 10^26")

	# Exactly at the frontier is controlled ("fewer than" excludes).
	_expect([f, {"model": {"training_compute_flop": 3e26}}, _from("IN")], false, "license_required")
	_expect([f, {"model": {"training_compute_flop": 1e26}}, _from("CN")], true, "below_open_frontier")

	# Below 10^26 it is plainly not controlled.
	b := _decide([f, _below, _from("IN")])
	_check(b, true, "not_controlled")
	contains(b.basis, "control threshold 3e+26")

	# The controlled reason names the threshold in its basis too.
	c := _decide([f, {"model": {"training_compute_flop": 4e26}}, _from("IN")])
	_check(c, false, "license_required")
	contains(c.basis, "control threshold 3e+26")
}

test_frontier_configured if {
	d := _decide([_frontier(4e26, "configured", ""), _from("IN")])
	_check(d, true, "below_open_frontier")
	contains(d.basis, "the open-weight frontier, 4e+26 operations (configured by the operator)")
}

test_frontier_below_heading_does_not_lower if {
	d := _decide([_frontier(5e25, "catalog", "open-lab/big-open"), {"model": {"training_compute_flop": 1e26}}, _from("IN")])
	_check(d, false, "license_required")
	contains(d.basis, "control threshold 1e+26 operations: the ECCN 4E091 heading ('10^26 or more operations'); the open-weight frontier, 5e+25 operations (the catalog's largest classified open-weight model, open-lab/big-open), does not raise it")
	_expect([_frontier(1e26, "configured", ""), {"model": {"training_compute_flop": 1e26}}, _from("IN")], false, "license_required")
}

test_frontier_none if {
	d := _decide([_from("IN")])
	contains(d.basis, "no open-weight frontier is known to raise it")

	# A frontier missing from the input altogether counts as none.
	inp := json.remove(_patch(_in, [_from("IN")]), ["frontier"])
	m := weightgate.decision with input as inp
	_check(m, false, "license_required")
	contains(m.basis, "control threshold 1e+26")
}

# Classified 4E091 by its owner: controlled whatever the frontier.
test_frontier_does_not_release_4e091 if {
	_expect([_frontier(5e26, "configured", ""), {"model": {"eccn": "4E091"}}, _from("IN")], false, "license_required")
}

# A fine-tune of an open base above its floor is judged against the frontier.
test_frontier_and_fine_tune if {
	f := _frontier(3e26, "catalog", "open-lab/huge-open")
	_expect([f, _tune(_open_base(2e26), 6e25, 2.6e26), _from("IN")], true, "published_base_fine_tune")
	_expect([f, _tune(_open_base(2e26), 1e26, 3e26), _from("IN")], false, "license_required")

	# A closed base's fine-tune below the frontier.
	closed := object.union(_open_base(2e26), {"weights": "closed"})
	_expect([f, _tune(closed, 6e25, 0), _from("IN")], true, "below_open_frontier")
}

# --- Malformed compute ---------------------------------------------------------

test_malformed_compute_is_undefined if {
	not _decide([{"model": {"fine_tune_compute_flop": "1e25"}}])
	not _decide([_tune(object.union(_open_base(2e26), {"training_compute_flop": "2e26"}), 1e24, 3e26)])
	not _decide([_frontier("3e26", "configured", "")])

	# Open weights and other files do not depend on them.
	_expect([_frontier("3e26", "configured", ""), _open], true, "open_weights")
	_expect([_frontier("3e26", "configured", ""), _other], true, "not_weights")
}

# --- Extensions --------------------------------------------------------------

_ext_deny := {"acme": {"deny": {{"code": "acme_blocked", "reason": "Acme says no", "basis": "Acme policy 7"}}}}

test_extension_deny_overrides_allow if {
	d := weightgate.decision with input as _in with data.weightgate.extensions as _ext_deny
	d == {"allow": false, "code": "acme_blocked", "reason": "Acme says no", "basis": "Acme policy 7", "visible": true}

	o := weightgate.decision with input as _patch(_in, [_open]) with data.weightgate.extensions as _ext_deny
	o.code == "acme_blocked"

	b := weightgate.decision with input as _patch(_in, [_below]) with data.weightgate.extensions as _ext_deny
	b.code == "acme_blocked"
}

# A base denial keeps its own code: the more fundamental reason.
test_extension_deny_keeps_base_denials if {
	a := weightgate.decision with input as _patch(_in, [_anon]) with data.weightgate.extensions as _ext_deny
	a.code == "authentication_required"

	c := weightgate.decision with input as _patch(_in, [_from("CN")]) with data.weightgate.extensions as _ext_deny
	c.code == "country_of_concern"
}

test_extension_first_denial_by_name_then_code if {
	exts := {
		"zeta": {"deny": {{"code": "a_first_code", "reason": "z", "basis": "z"}}},
		"alpha": {"deny": {{"code": "m_code", "reason": "a", "basis": "a"}, {"code": "b_code", "reason": "a", "basis": "a"}}},
	}
	d := weightgate.decision with input as _in with data.weightgate.extensions as exts
	d.code == "b_code"
}

test_extension_empty_deny_allows if {
	exts := {"acme": {"deny": set(), "entity_ids": ["x"]}, "data_only": {"k": 1}}
	d := weightgate.decision with input as _in with data.weightgate.extensions as exts
	_check(d, true, "not_an_export")
}

test_extension_malformed_deny_still_denies if {
	not_a_set := weightgate.decision with input as _in with data.weightgate.extensions as {"acme": {"deny": true}}
	_check(not_a_set, false, "extension_denied")

	arr := weightgate.decision with input as _in with data.weightgate.extensions as {"acme": {"deny": []}}
	_check(arr, false, "extension_denied")

	element := weightgate.decision with input as _in with data.weightgate.extensions as {"acme": {"deny": {"nope"}}}
	_check(element, false, "extension_denied")
	contains(element.reason, "acme")

	no_code := weightgate.decision with input as _in with data.weightgate.extensions as {"acme": {"deny": {{"reason": "r"}}}}
	_check(no_code, false, "extension_denied")
	no_code.reason == "r"
}

# --- Data --------------------------------------------------------------------

test_data_country_lists if {
	cfg := data.weightgate.ai_diffusion
	count(cfg.tier1_supp5a) == 18
	count(cfg.tier1_including_us) == 19
	{c | some c in cfg.tier1_including_us} == {c | some c in cfg.tier1_supp5a} | {"US"}
	[v.from | some v in cfg.d5_versions] == ["2024-03-15", "2026-02-03"]
	count(cfg.d5_versions[0].members) == 23
	count(cfg.d5_versions[1].members) == 22
	cfg.control_threshold_flop == 1e26
	cfg.fine_tune_floor_flop == 2.5e25
	cfg.fine_tune_fraction == 0.25
	cfg.employee_carve_out_covers_d5 == false
	cfg.territory_parent_confirmed == false

	# Every embargoed country is also in D:5; no Tier 1 country is.
	every v in cfg.d5_versions {
		every c in cfg.comprehensively_embargoed {
			c in v.members
		}
		every c in cfg.tier1_including_us {
			not c in v.members
		}
	}
}

test_data_bundle_identity if {
	b := data.weightgate.bundle
	b.name == "ai-diffusion-2025"
	b.effective_date == "2025-01-13"
	b.version == "2.0.0"
	count(b.sources) > 0
}

# A fine-tune's basis says how its operations were counted.
test_fine_tune_basis if {
	d := _decide([_tune(_open_base(2e26), 6e25, 2.6e26), _from("IN")])
	_check(d, false, "license_required")
	contains(d.basis, "fine-tune of the published model open-lab/big-open: exclusion (a) applies only while its further training (6e+25 operations) is at most 5e+25")
	contains(d.basis, "its 2.6e+26 operations in total count pre-training and fine-tuning (4E091 Technical Note 2)")

	n := _decide([_tune(null, 1e24, 3e26), _from("IN")])
	contains(n.basis, "fine-tune of open-lab/big-open, which is not a published model in the catalog: judged on its 3e+26 operations in total")

	# Not a fine-tune: no such clause.
	not contains(_decide([_from("IN")]).basis, "fine-tune")
}

# --- Restricted-party screening (subject.screening) --------------------------

_screened(status, score) := {"subject": {"screening": {
	"status": status, "list": "Entity List (EL) - Bureau of Industry and Security",
	"entry": "el-1001", "name": "SHENZHEN QUANTUM DYNAMICS CO., LTD.", "field": "entity.name", "score": score,
}}}

_hit := _screened("hit", 1)

_near := _screened("review", 0.87)

# _decide_set decides with the given operator settings.
_decide_set(patches, settings) := d if {
	inp := _patch(_in, patches)
	d := weightgate.decision with input as inp with data.weightgate.settings as settings
} else := null

test_screening_hit_denies_closed_weights if {
	d := _decide([_hit])
	_check(d, false, "restricted_party")
	contains(d.reason, "the name of your entity matches SHENZHEN QUANTUM DYNAMICS CO., LTD. on the Entity List (EL) - Bureau of Industry and Security (entry el-1001, match score 1.00)")
	contains(d.basis, "restricted-party screening against the Entity List (EL) - Bureau of Industry and Security")
	contains(d.basis, "control threshold")

	# Whatever the destination or the compute: a listed party gets no
	# closed weights at all.
	_expect([_hit, _below], false, "restricted_party")
	_expect([_hit, _at("GB", "US", "US")], false, "restricted_party")
	_expect([_hit, {"subject": {"country": ""}}], false, "restricted_party")
}

test_screening_review_denies_closed_weights if {
	d := _decide([_near])
	_check(d, false, "screening_review")
	contains(d.reason, "resembles SHENZHEN QUANTUM DYNAMICS CO., LTD. on the Entity List (EL) - Bureau of Industry and Security (entry el-1001, match score 0.87, below the hit threshold)")
	_expect([_near, _below], false, "screening_review")
}

test_screening_clear_or_off_changes_nothing if {
	_expect([_screened("clear", 0)], true, "not_an_export")
	_expect([_screened("off", 0)], true, "not_an_export")
	_expect([{"subject": {"screening": null}}], true, "not_an_export")
	_expect([_screened("clear", 0), _from("CN")], false, "country_of_concern")
}

# A status the policy does not know is never read as clear.
test_screening_unknown_status_is_review if {
	_expect([_screened("error", 0)], false, "screening_review")
	_expect([_screened("HIT", 0)], false, "screening_review")

	# No status at all is no screening: off.
	_expect([_screened("", 0)], true, "not_an_export")
	_expect([{"subject": {"screening": {"status": null}}}], true, "not_an_export")
	_expect([{"subject": {"screening": {"status": 1}}}], false, "screening_review")
}

test_screening_refuses_other_files_spares_open_weights if {
	_expect([_hit, _other], false, "restricted_party")
	_expect([_near, _other], true, "not_weights")
	_expect([_hit, _open], true, "open_weights")
	_expect([_near, _open], true, "open_weights")
	_expect([_hit, _anon, _open], true, "open_weights")
}

test_screening_open_weights_when_configured if {
	deny_open := {"screening_open_weights": "deny"}
	_check(_decide_set([_hit, _open], deny_open), false, "restricted_party")
	_check(_decide_set([_near, _open], deny_open), false, "screening_review")
	_check(_decide_set([_screened("clear", 0), _open], deny_open), true, "open_weights")
	_check(_decide_set([_hit, _open, _other], deny_open), true, "open_weights")
	_check(_decide_set([_hit, _open], {"screening_open_weights": "allow"}), true, "open_weights")
}

# The operator's own registry is consulted before the screening result.
test_screening_after_registry if {
	reg := {"restricted_parties": [{"entity_id": "acme", "name": "Acme", "list": "Operator list", "reason": "r"}]}
	d := _decide_reg([_hit, _at("US", "US", "US")], reg)
	_check(d, false, "restricted_party")
	contains(d.reason, "Operator list")
}

# --- Location cross-check (request.ip_country) -------------------------------

_ip(country) := {"request": {"client_ip": "203.0.113.7", "ip_country": country}}

_trusted := {"request": {"ip_trusted_network": true}}

test_ip_in_country_of_concern if {
	d := _decide([_ip("CN")])
	_check(d, false, "ip_country_of_concern")
	contains(d.reason, "your address (203.0.113.7) is in CN (a country of concern, Country Group D:5), whatever your token says")
	_expect([_ip("MO")], false, "ip_country_of_concern")
	_expect([_ip("HK")], false, "ip_country_of_concern")

	# A trusted network does not hide where the address is.
	_expect([_ip("CN"), _trusted], false, "ip_country_of_concern")

	# Embargoed: any closed weights. Country of concern: only what 4E091
	# controls; an uncontrolled model then fails the cross-check instead.
	_expect([_ip("IR"), _below], false, "ip_country_of_concern")
	_expect([_ip("CN"), _below], false, "location_mismatch")
	_expect([_ip("CN"), _below, _trusted], true, "not_controlled")
}

test_ip_matches_token if {
	_expect([_ip("US")], true, "not_an_export")
	_expect([_ip("gb"), _from("GB")], true, "license_exception_aia")
	_expect([_ip("IN"), _from("IN")], false, "license_required")
}

test_location_mismatch if {
	d := _decide([_ip("FR"), _from("DE")])
	_check(d, false, "location_mismatch")
	contains(d.reason, "your token says you are in DE, but your address (203.0.113.7) is in FR")
	_expect([_ip("FR"), _below], false, "location_mismatch")

	# Corporate and VPN ranges are exempt from the cross-check.
	_expect([_ip("FR"), _from("DE"), _trusted], true, "license_exception_aia")

	# Open weights and other files are not location-checked.
	_expect([_ip("FR"), _open], true, "open_weights")
	_expect([_ip("FR"), _other], true, "not_weights")

	# Screening and a bad destination come first.
	_expect([_ip("FR"), _hit], false, "restricted_party")
	_expect([_ip("FR"), _from("")], false, "unknown_destination")
}

test_location_unknown if {
	# Allowed by default.
	_expect([_ip("")], true, "not_an_export")
	_expect([{"request": {"ip_country": 7}}], true, "not_an_export")

	deny_unknown := {"location_unknown": "deny"}
	d := _decide_set([_ip("")], deny_unknown)
	_check(d, false, "location_unknown")
	contains(d.reason, "the country of your address (203.0.113.7) cannot be determined")
	_check(_decide_set([{"request": {"ip_country": "", "client_ip": ""}}], deny_unknown), false, "location_unknown")
	_check(_decide_set([_ip(""), _trusted], deny_unknown), true, "not_an_export")
	_check(_decide_set([_ip("US")], deny_unknown), true, "not_an_export")
	_check(_decide_set([_ip(""), _open], deny_unknown), true, "open_weights")
	_check(_decide_set([_ip("")], {"location_unknown": "allow"}), true, "not_an_export")
}

# --- Visibility (decision.visible) ---------------------------------------------

_visible(patches) := d.visible if {
	d := _decide(patches)
}

_visible_reg(patches, reg) := d.visible if {
	d := _decide_reg(patches, reg)
}

test_visible_open_weights_to_everyone if {
	every p in [[], [_anon], [_from("KP")], [_from("CN")], [_hit], [_from("")], [_ip("IR")]] {
		_visible(array.concat([_open], p)) == true
	}
	_visible_reg([_open, _blocked], _rp) == true
}

test_visible_hidden_from_anonymous if {
	_visible([_anon]) == false
	_visible([_anon, _other]) == false
	_visible([_anon, _unclassified]) == false
}

test_visible_tier1 if {
	_visible([]) == true
	_visible([_from("GB")]) == true
	_visible([_other, _at("JP", "JP", "JP")]) == true
}

# Tier 2: refused weights, but told why (they can apply for a licence).
test_visible_tier2_license_required if {
	_visible([_india]) == true
	d := _decide([_india])
	d.code == "license_required"
	_visible([_from("IN")]) == true
	_visible([_from("BR"), _other]) == true
	_expect([_from("BR"), _other], true, "not_weights")
}

test_visible_near_miss_is_told if {
	_visible([_near]) == true
	_expect([_near], false, "screening_review")
}

test_visible_hidden_from_embargoed_destinations if {
	every c in ["CU", "IR", "KP", "SY"] {
		_visible([_from(c)]) == false
		_visible([_from(c), _other]) == false
		_visible([_from(c), _below]) == false
		_visible([_from(c), _unclassified]) == false
	}

	# By headquarters, parent, deemed export and address too.
	_visible([_at("GB", "IR", "GB")]) == false
	_visible([_at("GB", "GB", "KP")]) == false
	_visible([{"subject": {"country": "GB", "nationality": ["SY"]}}]) == false
	_visible([_ip("CU")]) == false
	_visible([_ip("CU"), _other]) == false
	_expect([_ip("CU"), _other], false, "ip_country_of_concern")
}

test_visible_hidden_from_countries_of_concern if {
	every c in ["CN", "MO", "HK", "RU", "VE"] {
		_visible([_from(c)]) == false
		_visible([_from(c), _other]) == false
		_visible([_from(c), _unclassified]) == false
	}
	_visible([_at("GB", "CN", "CN")]) == false
	_visible([_ip("CN")]) == false
	_expect([_other, _at("SG", "SG", "CN")], false, "country_of_concern")

	# A closed model below the threshold is not controlled: CN may know it.
	_visible([_from("CN"), _below]) == true
	_visible([_ip("CN"), _below]) == true

	# An ECCN 4E091 classification controls it whatever its compute.
	_visible([_from("CN"), _below, {"model": {"eccn": "4E091"}}]) == false
}

test_visible_hidden_from_restricted_parties if {
	_visible_reg([_blocked], _rp) == false
	_visible_reg([_blocked, _other], _rp) == false
	_visible_reg([_blocked, _below], _rp) == false
	_visible([_hit]) == false
	_visible([_hit, _other]) == false
	_visible([_hit, _below]) == false
}

test_visible_hidden_when_destination_unknown if {
	_visible([_from("")]) == false
	_visible([_from("USA"), _other]) == false
	_visible([_at("GB", "IRN", "")]) == false
}

# Broken data hides (and other files of a closed model are refused); the
# weights decision itself stays undefined (policy_error).
test_visible_hidden_when_data_broken if {
	_visible_reg([_other], {"veu": "x"}) == false
	not _decide([]) with data.weightgate.ai_diffusion.comprehensively_embargoed as "IR"
	d := _decide([_other]) with data.weightgate.ai_diffusion.comprehensively_embargoed as "IR"
	d.visible == false
	d.code == "policy_error"
}

# An extension's denial does not change who may know the model.
test_visible_unchanged_by_extensions if {
	d := weightgate.decision with input as _patch(_in, [_from("IN")]) with data.weightgate.extensions as _ext_deny
	d.visible == true
	c := weightgate.decision with input as _patch(_in, [_from("CN")]) with data.weightgate.extensions as _ext_deny
	c.visible == false
}

# --- Export rules a compliance officer signs off -------------------------------

# A closed model's other files (config.json, tokenizer, README) are refused,
# and the model hidden, to embargoed destinations (every role) and
# restricted parties; only requesters the model is not hidden from get them
# as not_weights.
test_other_files_embargo_and_restricted_parties if {
	every c in ["KP", "CU", "IR", "SY", "UA-43"] {
		d := _decide([_other, _from(c)])
		_check(d, false, "embargoed_destination")
		d.visible == false
	}
	_expect([_other, _person("US", ["KP"], null)], false, "embargoed_destination")
	_expect([_other, _at("GB", "CU", "GB")], false, "embargoed_destination")
	_expect([_other, _at("GB", "GB", "IR")], false, "embargoed_destination")
	_expect([_other, _ip("KP")], false, "ip_country_of_concern")
	_expect([_other, _ip("UA-40")], false, "ip_country_of_concern")
	_expect_reg([_other, _blocked], _rp, false, "restricted_party")
	_expect([_other, _hit], false, "restricted_party")

	# Everyone else still gets them.
	_expect([_other, _from("IN")], true, "not_weights")
}

# ISO 3166-2 regions: Crimea, Sevastopol and the oblasts of the so-called
# DNR and LNR are embargoed wherever a country is read (location, deemed
# export, headquarters, parent, client address); any other subdivision is
# its country. Before, such a code was an unknown destination at best.
test_regions_embargoed if {
	every c in ["UA-43", "UA-40", "UA-14", "UA-09"] {
		d := _decide([_from(c)])
		_check(d, false, "embargoed_destination")
		contains(d.reason, "an embargoed region (15 CFR 746.6)")
		_expect([_person("US", [c], null)], false, "embargoed_destination")
		_expect([_at("GB", c, "GB")], false, "embargoed_destination")
		_expect([_at("GB", "GB", c)], false, "embargoed_destination")
		_expect([_ip(c), _from("UA"), _below], false, "ip_country_of_concern")
		_expect([_from(c), _below], false, "embargoed_destination")
	}

	# The rest of Ukraine is Tier 2; a subdivision of a country is judged as
	# the country.
	_expect([_from("UA")], false, "license_required")
	_expect([_from("UA-30")], false, "license_required")
	_expect([_from("GB-ENG")], true, "license_exception_aia")
	_expect([_from("CN-BJ")], false, "country_of_concern")
	_expect([_from("IR-01")], false, "embargoed_destination")

	# A database that knows the subdivision agrees with a token naming the
	# country.
	_expect([_ip("UA-30"), _from("UA"), _below], true, "not_controlled")
	_expect([_ip("GB-ENG"), _from("GB")], true, "license_exception_aia")
}

# U.S. territories are the United States: a U.S. person there is not an
# export, and an entity headquartered there is Tier 1. Before, PR, GU, VI,
# AS, MP and UM were foreign Tier 2 destinations (license_required).
test_us_territories if {
	every c in ["PR", "GU", "VI", "AS", "MP", "UM"] {
		_expect([_from(c)], true, "not_an_export")
		_expect([_at("GB", c, c)], true, "license_exception_aia")
		_expect([_person(c, ["GB"], null), _at(c, "US", "US")], true, "license_exception_aia")
	}

	# A Puerto Rican national is a U.S. national: no deemed export.
	_expect([_person("PR", ["PR"], null)], true, "not_an_export")
}

# Another country's territory follows its parent for every restriction, and
# for Tier 1 only once the operator confirms the table (unconfirmed: licence
# required).
test_territory_parents if {
	_expect([_from("GI")], false, "license_required")
	_expect([_from("KY")], false, "license_required")
	_expect([_from("GI")], false, "license_required")
	d := weightgate.decision with input as _patch(_in, [_from("GI")]) with data.weightgate.ai_diffusion.territory_parent_confirmed as true
	_check(d, true, "license_exception_aia")
	e := weightgate.decision with input as _patch(_in, [_from("KY")]) with data.weightgate.ai_diffusion.territory_parent as {"KY": "IR"}
	_check(e, false, "embargoed_destination")
}

# Country Group D:5 is picked by the request's date: Cambodia is a country of
# concern until 2 Feb 2026 and Tier 2 from 3 Feb 2026 (RIN 0694-AK41). A
# request without a date uses every version's members.
test_d5_by_date if {
	_expect([_from("KH"), {"request": {"time": "2025-06-01T00:00:00Z"}}], false, "country_of_concern")
	_expect([_from("KH"), {"request": {"time": "2026-02-02T23:59:59Z"}}], false, "country_of_concern")
	_expect([_from("KH"), {"request": {"time": "2026-02-03T00:00:00Z"}}], false, "license_required")
	_expect([_from("KH"), {"request": {"time": "2026-06-01T00:00:00Z"}}], false, "license_required")
	_expect([_from("KH"), {"request": {"time": "2020-01-01T00:00:00Z"}}], false, "country_of_concern")
	_expect([_from("KH"), {"request": {"time": ""}}], false, "country_of_concern")
	_expect([_from("KH"), {"request": {"time": "2026-06-01T00:00:00+02:00"}}], false, "country_of_concern")

	# A deemed export follows the same list; others are unchanged.
	_expect([_person("US", ["KH"], null), {"request": {"time": "2026-06-01T00:00:00Z"}}], false, "license_required")
	_expect([_from("CN"), {"request": {"time": "2026-06-01T00:00:00Z"}}], false, "country_of_concern")
}

# Wording: a country of concern is "license required, presumption of
# denial", never "prohibited", on every path that names one.
test_concern_wording if {
	every p in [[_from("CN")], [_person("US", ["CN"], null)], [_at("GB", "HK", "HK")], [_from("MO"), _other], [_ip("CN"), _from("GB")]] {
		d := _decide(p)
		d.allow == false
		not contains(d.reason, "prohibited")
	}
	contains(_decide([_from("CN")]).reason, "presumption of denial")
	contains(_decide([_from("MO"), _other]).reason, "presumption of denial")
}

# A release to a U.S. person inside the United States is not an export, not
# License Exception AIA; a foreign person there, or a U.S. person abroad, is
# still decided under AIA.
test_not_an_export if {
	d := _decide([])
	_check(d, true, "not_an_export")
	contains(d.reason, "a U.S. person in the United States")
	contains(d.basis, "not an export")
	_expect([_person("US", ["GB"], null)], true, "license_exception_aia")
	_expect([_from("GB")], true, "license_exception_aia")
	_expect([_at("US", "IN", "IN")], false, "license_required")
	_expect([_at("US", "US", "CN")], false, "country_of_concern")
}

# destination_group: the groups of the console's report, from this bundle's
# lists on the request date (Cambodia left D:5 on 2026-02-03).
test_destination_group_tiers if {
	weightgate.destination_group("US") == "tier1" with input as {"request": {"time": "2026-01-02T03:04:05Z"}}
	weightgate.destination_group("JP") == "tier1" with input as {"request": {"time": "2026-01-02T03:04:05Z"}}
	weightgate.destination_group("IN") == "tier2" with input as {"request": {"time": "2026-01-02T03:04:05Z"}}
	weightgate.destination_group("CN") == "country_of_concern" with input as {"request": {"time": "2026-01-02T03:04:05Z"}}
	weightgate.destination_group("IR") == "embargoed" with input as {"request": {"time": "2026-01-02T03:04:05Z"}}
	weightgate.destination_group("UA-40") == "embargoed" with input as {"request": {"time": "2026-01-02T03:04:05Z"}}
}

test_destination_group_by_date if {
	weightgate.destination_group("KH") == "country_of_concern" with input as {"request": {"time": "2026-02-02T23:59:59Z"}}
	weightgate.destination_group("KH") == "tier2" with input as {"request": {"time": "2026-02-03T00:00:00Z"}}
}

# The gateway answers listings from visible alone, remembered by what it
# reads (docs/policies.md): it is decision.visible, undefined where the
# decision is (a file of a kind the table does not know), and reads
# neither the model's id nor the file's path.
_visible_or_null(patches) := v if {
	inp := _patch(_in, patches)
	v := weightgate.visible with input as inp
} else := null

test_visible_rule_is_the_decisions if {
	every p in [[], [_anon], [_other], [_open], [_unclassified], [_from("IR")], [_from("CN")], [_from("IN")], [{"model": {"id": ""}}]] {
		_visible_or_null(p) == _visible(p)
	}
	bogus := {"object": {"kind": "bogus"}}
	_visible_or_null([bogus]) == null
	_decide_or_null([bogus]) == null
	_visible_or_null([bogus, _unclassified]) == _visible([bogus, _unclassified])
	_visible_or_null([bogus, _open]) == _visible([bogus, _open])
}
