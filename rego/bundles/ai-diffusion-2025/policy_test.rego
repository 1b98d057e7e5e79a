# Tests for data.weightgate.decision: every row of the decision table in
# rego/README.md, in table order, then the edges. Run with `go test ./rego/`.
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
		"entity": {"name": "", "id": "", "hq": "", "parent_hq": "", "veu": ""},
		"claims": {},
	},
	"model": {
		"id": "frontier-lab/frontier-x",
		"classified": true,
		"weights": "closed",
		"training_compute_flop": 3e26,
		"eccn": "",
		"revision": "0123abc",
	},
	"object": {"path": "model-00001-of-00004.safetensors", "kind": "weights", "size": 1000},
	"request": {"method": "GET", "api": "resolve", "range": "", "remote_addr": "192.0.2.1:4711", "time": "2026-01-02T03:04:05Z"},
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
	_expect([_other, _from("CN")], true, "not_weights")
	_expect([_other, _from("")], true, "not_weights")
	_expect([_other, _below], true, "not_weights")
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
	_expect([], true, "license_exception_aia")
	_expect([_at("GB", "US", "JP")], true, "license_exception_aia")
	_expect([_at("TW", "TW", "TW")], true, "license_exception_aia")
	_expect([_at("SE", "ES", "")], true, "license_exception_aia")
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
	_expect([{"model": {"training_compute_flop": 1e26}}], true, "license_exception_aia")
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
test_missing_hq_counts_as_country if {
	_expect([_from("US")], true, "license_exception_aia")
	_expect([_at("US", "", "")], true, "license_exception_aia")
	_expect([_at("CN", "", "")], false, "country_of_concern")
	_expect([_at("IN", "", "")], false, "license_required")
	_expect([_at("IR", "", "")], false, "embargoed_destination")

	# Only the missing one: parent_hq falls back to the location, not to hq.
	_expect([_at("US", "IN", "")], false, "license_required")
	_expect([_at("IN", "US", "")], false, "license_required")
}

test_entity_absent_counts_as_country if {
	inp := json.remove(_in, ["subject/entity"])
	d := weightgate.decision with input as inp
	_check(d, true, "license_exception_aia")
}

test_country_codes_are_normalised if {
	_expect([_from("us")], true, "license_exception_aia")
	_expect([_from(" cn ")], false, "country_of_concern")
	_expect([_at("GB", "gb", "ir")], false, "embargoed_destination")
}

# Embargo comes before the other country rows: IR is also in D:5.
test_embargo_wins_over_concern if {
	_expect([_at("CN", "IR", "")], false, "embargoed_destination")
}

test_reason_names_model_and_country if {
	d := _decide([_from("CN")])
	d.reason == "frontier-lab/frontier-x is a closed-weight model trained with 3e+26 operations (ECCN 4E091); exports to CN (a country of concern, Country Group D:5) are prohibited"
	contains(d.basis, "742.6(a)(13)")
}

test_reason_and_basis_cite_the_rule if {
	contains(_decide([]).basis, "License Exception AIA, 15 CFR 740.27")
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
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.d5_in_effect as "d5_typo"
	not weightgate.decision with input as _in with data.weightgate.ai_diffusion.control_threshold_flop as "1e26"

	# Files that are not closed weights do not depend on the lists.
	o := weightgate.decision with input as _patch(_in, [_open]) with data.weightgate.ai_diffusion as {}
	o.code == "open_weights"
}

# --- Extensions --------------------------------------------------------------

_ext_deny := {"acme": {"deny": {{"code": "acme_blocked", "reason": "Acme says no", "basis": "Acme policy 7"}}}}

test_extension_deny_overrides_allow if {
	d := weightgate.decision with input as _in with data.weightgate.extensions as _ext_deny
	d == {"allow": false, "code": "acme_blocked", "reason": "Acme says no", "basis": "Acme policy 7"}

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
	_check(d, true, "license_exception_aia")
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
	count(cfg.d5_as_of_2025_01_15) == 23
	count(cfg.d5_as_of_2026_07_23) == 22
	cfg.d5_in_effect == "d5_as_of_2025_01_15"
	cfg.control_threshold_flop == 1e26

	# Every embargoed country is also in D:5; no Tier 1 country is.
	every c in cfg.comprehensively_embargoed {
		c in cfg.d5_as_of_2025_01_15
	}
	every c in cfg.tier1_including_us {
		not c in cfg.d5_as_of_2025_01_15
	}
}

test_data_bundle_identity if {
	b := data.weightgate.bundle
	b.name == "ai-diffusion-2025"
	b.effective_date == "2025-01-13"
	count(b.sources) > 0
}
