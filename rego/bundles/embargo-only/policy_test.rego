# Tests for the embargo-only bundle's data.weightgate.decision: every row of
# its decision table (README.md), in table order, then the edges. Run with
# `go test ./rego/`.
package weightgate_test

import data.weightgate

# A requester in Great Britain, a British national with no entity, asks for a
# weights file of a closed model trained with 3e26 operations (controlled
# under the codified AI Diffusion rule, not enforced here). Each test patches
# what it needs.
_in := {
	"subject": {
		"anonymous": false,
		"id": "alice",
		"country": "GB",
		"nationality": ["GB"],
		"permanent_residence": null,
		"employee": false,
		"entity": {"name": "", "id": "", "hq": "", "parent_hq": "", "veu": "", "security_attested": false},
		"claims": {},
	},
	"model": {
		"id": "frontier-lab/frontier-x",
		"classified": true,
		"weights": "closed",
		"training_compute_flop": 3e26,
		"eccn": "4E091",
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

_open := {"model": {"weights": "open", "eccn": ""}}

_unclassified := {"model": {"classified": false, "weights": "", "training_compute_flop": 0, "eccn": ""}}

_other := {"object": {"path": "config.json", "kind": "other"}}

_from(country) := {"subject": {"country": country}}

_national(codes) := {"subject": {"nationality": codes}}

_resident(codes) := {"subject": {"permanent_residence": codes}}

_at(country, hq, parent_hq) := {"subject": {"country": country, "entity": {"name": "Acme", "id": "acme", "hq": hq, "parent_hq": parent_hq}}}

_decide(patches) := d if {
	inp := _patch(_in, patches)
	d := weightgate.decision with input as inp
}

_patch(base, patches) := object.union_n(array.concat([base], patches))

# _expect holds when the decision has the given allow and code and a
# non-empty reason that names the model and a non-empty basis; it prints the
# decision when it does not.
_expect(patches, allow, code) if {
	_check(_decide_or_null(patches), allow, code)
}

_decide_or_null(patches) := d if {
	d := _decide(patches)
} else := null

_check(d, allow, code) if {
	d.allow == allow
	d.code == code
	contains(d.reason, "frontier-lab/frontier-x")
	d.basis != ""
} else := false if {
	print("got", d, "want", allow, code)
}

# _reason is the reason of the decision for patches.
_reason(patches) := _decide(patches).reason

# --- The table, row by row ---------------------------------------------------

# Row 1: any file of an open model, anyone, wherever they are.
test_row1_open_weights_anyone if {
	_expect([_open], true, "open_weights")
	_expect([_open, _anon], true, "open_weights")
	_expect([_open, _from("IR")], true, "open_weights")
	_expect([_open, _national(["KP"])], true, "open_weights")
	_expect([_open, _other, _anon], true, "open_weights")
}

# Row 2: closed or unclassified models need a known requester.
test_row2_authentication_required if {
	_expect([_anon], false, "authentication_required")
	_expect([_anon, _other], false, "authentication_required")
	_expect([_anon, _unclassified], false, "authentication_required")
	contains(_reason([_anon]), "sign in")
}

# Row 3: no export classification.
test_row3_unclassified_model if {
	_expect([_unclassified], false, "unclassified_model")
	_expect([_unclassified, _other], false, "unclassified_model")
	_expect([_unclassified, _from("IR")], false, "unclassified_model")
}

# Row 4: the other files of a closed model (the default bundle's row order:
# before screening and embargoes).
test_row4_not_weights if {
	_expect([_other], true, "not_weights")
	_expect([_other, _from("CN")], true, "not_weights")
	contains(_reason([_other]), "config.json")

	# ... unless the model is hidden from the requester.
	_expect([_other, _from("IR")], false, "embargoed_destination")
	_expect([_other, _from("")], false, "unknown_destination")
	_expect([_other, _ip("KP")], false, "ip_country_of_concern")
}

# Row 5: a screening hit, on the entity id or on the requester's own id.
test_row5_restricted_party if {
	reg := [
		{"entity_id": "acme", "name": "Acme Corp", "list": "Entity List", "reason": "diversion risk"},
		{"subject_id": "mallory", "name": "Mallory", "list": "SDN"},
	]
	d := weightgate.decision with input as _patch(_in, [_at("GB", "GB", "GB")]) with data.weightgate.registry.restricted_parties as reg
	_check(d, false, "restricted_party")
	d.reason == "the weights of frontier-lab/frontier-x cannot be released: your entity acme is on the operator's restricted-party list (Entity List: diversion risk)"

	s := weightgate.decision with input as _patch(_in, [{"subject": {"id": "mallory"}}]) with data.weightgate.registry.restricted_parties as reg
	_check(s, false, "restricted_party")
	s.reason == "the weights of frontier-lab/frontier-x cannot be released: you are on the operator's restricted-party list (SDN)"

	# An entry without list or reason still denies.
	b := weightgate.decision with input as _patch(_in, [_at("GB", "GB", "GB")]) with data.weightgate.registry.restricted_parties as [{"entity_id": "acme"}]
	b.reason == "the weights of frontier-lab/frontier-x cannot be released: your entity acme is on the operator's restricted-party list"

	# Screening comes before the destination checks.
	e := weightgate.decision with input as _patch(_in, [_at("IR", "IR", "IR")]) with data.weightgate.registry.restricted_parties as reg
	e.code == "restricted_party"
	u := weightgate.decision with input as _patch(_in, [_at("", "GB", "GB")]) with data.weightgate.registry.restricted_parties as reg
	u.code == "restricted_party"

	# Not listed: no hit.
	o := weightgate.decision with input as _patch(_in, [_at("GB", "GB", "GB"), {"subject": {"entity": {"id": "other"}}}]) with data.weightgate.registry.restricted_parties as reg
	_check(o, true, "not_enforced")
}

# Row 6: a destination that cannot be checked.
test_row6_unknown_destination if {
	_expect([_from("")], false, "unknown_destination")
	_expect([_from("GBR")], false, "unknown_destination")
	_expect([_from(7)], false, "unknown_destination")
	_expect([_national(["invalid"])], false, "unknown_destination")
	_expect([_national("GB")], false, "unknown_destination")
	_expect([_resident(["invalid"])], false, "unknown_destination")
	_expect([_at("GB", "USA", "US")], false, "unknown_destination")
	_expect([_at("GB", "US", 1)], false, "unknown_destination")
	contains(_reason([_from("")]), "your location (country) is missing")
	contains(_reason([_national(["invalid"])]), "one of your nationalities or permanent residences")
	contains(_reason([_at("GB", "USA", "US")]), "headquarters country of your entity is not")
	contains(_reason([_at("GB", "US", "X")]), "your entity's ultimate parent")
}

test_row6_unknown_destination_country_absent if {
	inp := json.remove(_in, ["subject/country"])
	d := weightgate.decision with input as inp
	_check(d, false, "unknown_destination")
}

# Row 7: a comprehensively embargoed destination, whichever party is.
test_row7_embargoed_destination if {
	_expect([_from("IR")], false, "embargoed_destination")
	_expect([_from("CU")], false, "embargoed_destination")
	_expect([_from("KP")], false, "embargoed_destination")
	_expect([_from("SY")], false, "embargoed_destination")
	_expect([_national(["GB", "IR"])], false, "embargoed_destination")
	_expect([_resident(["CU"])], false, "embargoed_destination")
	_expect([_at("GB", "KP", "GB")], false, "embargoed_destination")
	_expect([_at("GB", "GB", "SY")], false, "embargoed_destination")
}

test_row7_embargo_reasons_name_the_party if {
	_reason([_from("IR")]) == "the weights of frontier-lab/frontier-x cannot be released to IR, where you are: Iran (IR) is under a comprehensive U.S. embargo"
	_reason([_national(["GB", "IR"])]) == "the weights of frontier-lab/frontier-x cannot be released as a deemed export to IR, a country of your nationality: Iran (IR) is under a comprehensive U.S. embargo"
	_reason([_resident(["CU"])]) == "the weights of frontier-lab/frontier-x cannot be released as a deemed export to CU, a country of your permanent residence: Cuba (CU) is under a comprehensive U.S. embargo"
	_reason([_at("GB", "KP", "GB")]) == "the weights of frontier-lab/frontier-x cannot be released to an entity headquartered in KP: North Korea (KP) is under a comprehensive U.S. embargo"
	_reason([_at("GB", "GB", "SY")]) == "the weights of frontier-lab/frontier-x cannot be released to an entity whose ultimate parent is headquartered in SY: Syria (SY) is under a comprehensive U.S. embargo"
	contains(_decide([_from("IR")]).basis, "15 CFR part 746")
}

# The location is reported first, then deemed exports, then headquarters.
test_row7_first_party_reported if {
	contains(_reason([_at("IR", "CU", "KP"), _national(["SY"])]), "to IR, where you are")
	contains(_reason([_at("GB", "CU", "KP"), _national(["SY"])]), "deemed export to SY")
	contains(_reason([_at("GB", "CU", "KP")]), "headquartered in CU")
}

# Row 8: everything else is released: 4E091 is not enforced.
test_row8_not_enforced if {
	_expect([], true, "not_enforced")
	_expect([_from("US"), _national(["US"])], true, "not_enforced")

	# Destinations the default bundle denies (countries of concern, Tier 2)
	# are released here.
	_expect([_from("CN"), _national(["CN"])], true, "not_enforced")
	_expect([_at("MO", "HK", "CN")], true, "not_enforced")
	_expect([_from("IN"), _national(["IN"])], true, "not_enforced")

	# Whatever the compute.
	_expect([{"model": {"training_compute_flop": 1e27}}], true, "not_enforced")
	_expect([{"model": {"training_compute_flop": 1e24, "eccn": ""}}], true, "not_enforced")
}

test_row8_not_enforced_cites_the_announcement if {
	d := _decide([])
	d.reason == "the weights of frontier-lab/frontier-x may be released to a requester in GB: the AI Diffusion rule's license requirements for closed model weights (ECCN 4E091) are not enforced since BIS's announcement of 13 May 2025, and no comprehensive U.S. embargo applies"
	contains(d.basis, "ECCN 4E091 license requirements")
	contains(d.basis, "not enforced since BIS's announcement of 13 May 2025")
	contains(d.basis, "https://alstontrade.com/")
	contains(d.basis, "15 CFR part 746; OFAC sanctions")

	e := _decide([_at("FR", "US", "JP")])
	contains(e.reason, "a requester in FR acting for acme, headquartered in US with its ultimate parent in JP")
	f := _decide([_at("FR", "US", "US")])
	contains(f.reason, "a requester in FR acting for acme, headquartered in US:")
}

# --- Edges -------------------------------------------------------------------

test_country_codes_are_normalised if {
	_expect([_from(" ir ")], false, "embargoed_destination")
	_expect([_national(["ir"])], false, "embargoed_destination")
	_expect([_from("gb")], true, "not_enforced")
}

# A missing headquarters counts as the requester's own country.
test_missing_hq_counts_as_country if {
	_expect([_at("IR", "", "")], false, "embargoed_destination")
	_expect([_at("GB", "", "")], true, "not_enforced")
	inp := json.remove(_in, ["subject/entity"])
	d := weightgate.decision with input as _patch(inp, [_from("CU")])
	_check(d, false, "embargoed_destination")
}

# Deemed exports: a U.S. person in the United States is not a foreign person;
# a permanent regular employee of an entity headquartered (with its parent)
# in Tier 1 is covered by the carve-out, except for an embargoed country; anyone else is checked for each
# nationality and permanent residence, wherever they are.
test_deemed_exports if {
	_expect([_from("US"), _national(["US", "IR"])], true, "not_enforced")
	_expect([_from("US"), _national(["IR"])], false, "embargoed_destination")
	_expect([_from("US"), _national(["IR"]), _resident(["US"])], true, "not_enforced")
	_expect([_at("US", "US", "US"), _national(["IN"]), {"subject": {"employee": true}}], true, "not_enforced")

	# The carve-out never lifts an embargo (before, this Iranian employee got
	# the weights as not_enforced).
	_expect([_at("US", "US", "US"), _national(["IR"]), {"subject": {"employee": true}}], false, "embargoed_destination")
	_expect([_at("US", "US", "US"), _national(["IR"])], false, "embargoed_destination")
	_expect([_at("US", "IN", "IN"), _national(["IR"]), {"subject": {"employee": true}}], false, "embargoed_destination")

	# The carve-out never reaches the location or the headquarters.
	_expect([_at("IR", "US", "US"), {"subject": {"employee": true}}], false, "embargoed_destination")
}

# Malformed input leaves the decision undefined: the engine answers
# policy_error. An anonymous request is refused before the model is looked at.
test_malformed_input_is_undefined if {
	not _decide([{"object": {"kind": "bogus"}}])
	not _decide([{"object": {"kind": "bogus"}, "subject": {"country": "IR"}}])
	not _decide([{"model": {"weights": ""}}])
	not _decide([{"model": {"weights": "semi-open"}}])
	_expect([_anon, {"object": {"kind": "bogus"}}], false, "authentication_required")
}

# Broken data or registries cannot silently skip a check: closed weights
# become undefined.
test_broken_data_is_undefined if {
	not weightgate.decision with input as _in with data.weightgate.embargo.comprehensively_embargoed as null
	not weightgate.decision with input as _in with data.weightgate.embargo.comprehensively_embargoed as ["ir"]
	not weightgate.decision with input as _in with data.weightgate.embargo.comprehensively_embargoed as "CU,IR"
	not weightgate.decision with input as _in with data.weightgate.embargo.tier1_including_us as {"US": true}
	not weightgate.decision with input as _in with data.weightgate.embargo.country_names as ["Cuba"]
	not weightgate.decision with input as _in with data.weightgate.embargo as {}
	not weightgate.decision with input as _in with data.weightgate.registry.restricted_parties as {"entity_id": "acme"}

	# Files that are not closed weights do not depend on the lists.
	o := weightgate.decision with input as _patch(_in, [_open]) with data.weightgate.embargo as {}
	o.code == "open_weights"
}

# Country names are optional: without them the code alone is named.
test_country_names_optional if {
	cfg := object.remove(data.weightgate.embargo, ["country_names"])
	d := weightgate.decision with input as _patch(_in, [_from("IR")]) with data.weightgate.embargo as cfg
	d.reason == "the weights of frontier-lab/frontier-x cannot be released to IR, where you are: IR is under a comprehensive U.S. embargo"
}

# Reasons name "this model" when the model has no id.
test_reason_without_model_id if {
	d := _decide([{"model": {"id": ""}}])
	startswith(d.reason, "the weights of this model may be released")
}

# --- Extensions --------------------------------------------------------------

_ext_deny := {"acme": {"deny": {{"code": "acme_blocked", "reason": "Acme says no", "basis": "Acme policy 7"}}}}

test_extension_deny_overrides_allow if {
	d := weightgate.decision with input as _in with data.weightgate.extensions as _ext_deny
	d == {"allow": false, "code": "acme_blocked", "reason": "Acme says no", "basis": "Acme policy 7", "visible": true}

	o := weightgate.decision with input as _patch(_in, [_open]) with data.weightgate.extensions as _ext_deny
	o.code == "acme_blocked"
}

# A base denial keeps its own code: the more fundamental reason.
test_extension_deny_keeps_base_denials if {
	a := weightgate.decision with input as _patch(_in, [_anon]) with data.weightgate.extensions as _ext_deny
	a.code == "authentication_required"

	e := weightgate.decision with input as _patch(_in, [_from("IR")]) with data.weightgate.extensions as _ext_deny
	e.code == "embargoed_destination"
}

# --- Data --------------------------------------------------------------------

test_data_lists if {
	cfg := data.weightgate.embargo
	{c | some c in cfg.comprehensively_embargoed} == {"CU", "IR", "KP", "SY"}
	count(cfg.tier1_including_us) == 19
	"US" in cfg.tier1_including_us
	every c in cfg.comprehensively_embargoed {
		is_string(cfg.country_names[c])
		not c in cfg.tier1_including_us
	}
}

test_data_bundle_identity if {
	b := data.weightgate.bundle
	b.name == "embargo-only"
	b.version == "1.0.0"
	b.effective_date == "2025-05-13"
	"https://alstontrade.com/commerce-rescinds-ai-diffusion-rule-releases-other-guidance-involving-overseas-ai-chips" in b.sources
	"https://www.akingump.com/en/insights/alerts/bis-rescinds-its-ai-diffusion-rule-and-issues-compliance-guidance-regarding-advanced-computing-items" in b.sources
}

# --- Restricted-party screening and the location cross-check ----------------

_screened(status) := {"subject": {"screening": {
	"status": status, "list": "Specially Designated Nationals (SDN) - Treasury Department",
	"entry": "sdn-7", "name": "ARCTIC COMPUTE TRADING LLC", "field": "entity.id", "score": 1,
}}}

_ip(country) := {"request": {"client_ip": "198.51.100.4", "ip_country": country}}

_decide_set(patches, settings) := d if {
	inp := _patch(_in, patches)
	d := weightgate.decision with input as inp with data.weightgate.settings as settings
} else := null

test_screening_hit_and_review if {
	d := _decide([_screened("hit")])
	_check(d, false, "restricted_party")
	contains(d.reason, "the id of your entity matches ARCTIC COMPUTE TRADING LLC on the Specially Designated Nationals (SDN) - Treasury Department (entry sdn-7, match score 1.00)")
	_expect([_screened("review")], false, "screening_review")
	_expect([_screened("clear")], true, "not_enforced")
	_expect([_screened("off")], true, "not_enforced")
	_expect([_screened("hit"), _other], false, "restricted_party")
	_expect([_screened("review"), _other], true, "not_weights")
	_expect([_screened("hit"), _open], true, "open_weights")
	_check(_decide_set([_screened("hit"), _open], {"screening_open_weights": "deny"}), false, "restricted_party")
}

test_ip_embargoed if {
	d := _decide([_ip("IR")])
	_check(d, false, "ip_country_of_concern")
	contains(d.reason, "your address (198.51.100.4) is in Iran (IR), which is under a comprehensive U.S. embargo")
	_expect([_ip("IR"), {"request": {"ip_trusted_network": true}}], false, "ip_country_of_concern")

	# Not enforced here: a country of concern that is not embargoed is only
	# cross-checked against the token.
	_expect([_ip("CN"), _from("CN")], true, "not_enforced")
	_expect([_ip("CN")], false, "location_mismatch")
}

test_location_cross_check if {
	_expect([_ip("GB")], true, "not_enforced")
	d := _decide([_ip("FR")])
	_check(d, false, "location_mismatch")
	contains(d.reason, "your token says you are in GB, but your address (198.51.100.4) is in FR")
	_expect([_ip("FR"), {"request": {"ip_trusted_network": true}}], true, "not_enforced")
	_expect([_ip("")], true, "not_enforced")
	_check(_decide_set([_ip("")], {"location_unknown": "deny"}), false, "location_unknown")
	_expect([_ip("FR"), _open], true, "open_weights")
}

# --- Visibility (decision.visible) ---------------------------------------------

_visible(patches) := d.visible if {
	d := _decide(patches)
}

_visible_reg(patches, reg) := d.visible if {
	d := weightgate.decision with input as _patch(_in, patches) with data.weightgate.registry.restricted_parties as reg
}

test_visible_open_to_everyone if {
	every p in [[], [_anon], [_from("KP")], [_screened("hit")], [_from("")], [_ip("IR")]] {
		_visible(array.concat([_open], p)) == true
	}
}

test_visible_hidden_from_anonymous if {
	_visible([_anon]) == false
	_visible([_anon, _other]) == false
}

test_visible_to_everyone_not_embargoed if {
	_visible([]) == true
	_visible([_from("CN")]) == true
	_visible([_from("IN"), _other]) == true
	_visible([_screened("review")]) == true
	_visible([_unclassified, _from("CN")]) == true
}

test_visible_hidden_from_embargoed_destinations if {
	every c in ["CU", "IR", "KP", "SY"] {
		_visible([_from(c)]) == false
		_visible([_from(c), _other]) == false
		_visible([_from(c), _unclassified]) == false
	}
	_visible([_at("GB", "IR", "GB")]) == false
	_visible([_at("GB", "GB", "KP")]) == false
	_visible([_national(["SY"])]) == false
	_visible([_ip("CU")]) == false
}

test_visible_hidden_from_restricted_parties if {
	reg := [{"entity_id": "acme", "name": "Acme Corp", "list": "Entity List"}]
	_visible_reg([_at("GB", "GB", "GB")], reg) == false
	_visible_reg([_at("GB", "GB", "GB"), _other], reg) == false
	d := weightgate.decision with input as _patch(_in, [_at("GB", "GB", "GB"), _other]) with data.weightgate.registry.restricted_parties as reg
	_check(d, false, "restricted_party")
	_visible([_screened("hit")]) == false
	_visible([_screened("hit"), _other]) == false
}

test_visible_hidden_when_destination_unknown_or_data_broken if {
	_visible([_from("")]) == false
	_visible([_from("USA"), _other]) == false
	d := weightgate.decision with input as _patch(_in, [_other]) with data.weightgate.registry.restricted_parties as {"entity_id": "acme"}
	d.visible == false
	d.code == "policy_error"
}

# --- Russia and Belarus, regions, territories ----------------------------------

# 15 CFR 746.8: every item on the Commerce Control List needs a licence to
# Russia and Belarus. Before, this bundle released 4E091 weights there as
# not_enforced.
test_russia_belarus_license_required if {
	every c in ["RU", "BY"] {
		d := _decide([_from(c)])
		_check(d, false, "license_required")
		contains(d.reason, "classified 4E091")
		contains(d.basis, "746.8")
		_expect([_national([c])], false, "license_required")
		_expect([_at("GB", c, "GB")], false, "license_required")
		_expect([_at("GB", "GB", c)], false, "license_required")
		_expect([_ip(c)], false, "license_required")

		# Any ECCN, not only 4E091; EAR99 or no classification number is not
		# on the list.
		_expect([_from(c), {"model": {"eccn": "5D002"}}], false, "license_required")
		_expect([_from(c), {"model": {"eccn": "EAR99"}}], true, "not_enforced")
		_expect([_from(c), {"model": {"eccn": ""}}], true, "not_enforced")

		# Its other files are not on the list.
		_expect([_from(c), _other], true, "not_weights")
	}

	# An embargo outranks it; the carve-out does not lift it.
	_expect([_from("RU"), _national(["IR"])], false, "embargoed_destination")
	_expect([_at("US", "US", "US"), _national(["RU"]), {"subject": {"employee": true}}], false, "license_required")
}

# ISO 3166-2 regions embargoed apart from Ukraine (15 CFR 746.6).
test_regions_embargoed if {
	every c in ["UA-43", "UA-40", "UA-14", "UA-09"] {
		d := _decide([_from(c)])
		_check(d, false, "embargoed_destination")
		d.visible == false
		_expect([_national([c])], false, "embargoed_destination")
		_expect([_at("GB", c, "GB")], false, "embargoed_destination")
		_expect([_ip(c), _from("UA")], false, "ip_country_of_concern")
		_expect([_from(c), _other], false, "embargoed_destination")
	}
	_expect([_from("UA")], true, "not_enforced")
	_expect([_from("UA-30")], true, "not_enforced")
	_expect([_from("IR-01")], false, "embargoed_destination")
}

# The files of a closed model that are not weights are refused, and the
# model hidden, to embargoed destinations in every role.
test_other_files_embargoed if {
	every p in [[_from("KP")], [_national(["CU"])], [_at("GB", "IR", "GB")], [_at("GB", "GB", "SY")], [_ip("KP")]] {
		d := _decide(array.concat(p, [_other]))
		d.allow == false
		d.visible == false
	}
}

# A U.S. person in a U.S. territory exports nothing by deemed export.
test_us_territory_us_person if {
	_expect([_from("PR"), _national(["US", "IR"])], true, "not_enforced")
	_expect([_from("GU"), _national(["IR"])], false, "embargoed_destination")
}

# destination_group: the groups of the console's report, from this bundle's
# lists.
test_destination_group if {
	weightgate.destination_group("KP") == "embargoed"
	weightgate.destination_group("UA-43") == "embargoed"
	weightgate.destination_group("BY") == "russia_belarus"
	weightgate.destination_group("CN") == "other"
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
