# METADATA
# title: weightgate default policy
# description: >-
#   Releases model-weight files under the BIS "Framework for Artificial
#   Intelligence Diffusion" (ECCN 4E091) as issued in January 2025. The rule is
#   still codified in the EAR although BIS said on 13 May 2025 that it would not
#   enforce it; this bundle follows the codified text (the conservative default).
#   Input, output, data and registries are documented in docs/policies.md.
package weightgate

import data.weightgate.lib

# Sources (reference notes: /work/shared/reference/ai-diffusion-rule.md, cited
# below as "ref §n"; the URLs are also in data.weightgate.bundle.sources):
#
#   - The rule: interim final rule, FR doc. 2025-00636, 90 FR 4544-4584,
#     published 15 Jan 2025, effective 13 Jan 2025, RIN 0694-AJ90.
#     https://frnow.com/Browse/Document/usa/na/fr/2025/1/15/2025-00636
#     https://frtracker.app/fr/2025-00636
#   - ECCN 4E091 ("'Parameters' for an AI model trained utilizing 10^26 or more
#     'operations'", RS worldwide under 15 CFR 742.6(a)(13), Technical Notes,
#     exclusion (a) for "published" weights and their fine-tunes, exclusion (b)
#     for models less capable than the best published model), ref §1: eCFR
#     part 774,
#     https://www.ecfr.gov/api/versioner/v1/full/2026-07-23/title-15.xml?part=774
#     as transcribed in https://github.com/seelpeed-debug/export-controls-agent-mcp/blob/1c2896ba2f92339be6a48866304fa9f7d1eb5d22/src/data/ccl.json
#   - Only closed weights are caught: https://bis.gov/advanced-compute-resources
#   - Tier 1 = the United States and the 18 destinations of paragraph (a) of
#     Supplement No. 5 to part 740 (ref §2):
#     https://wiley.law/alert-BIS-Announces-New-Regulatory-Framework-for-AI-and-Controls-on-Advanced-Computing-Technology-and-AI-Models
#   - Countries of concern = Macau and Country Group D:5 (Supplement No. 1 to
#     part 740), Hong Kong treated as China (ref §2):
#     https://github.com/seelpeed-debug/export-controls-agent-mcp/blob/43045d40c3e1e1315aa5d6ae77f52206eee1a99c/src/data/country-groups.json
#     https://skadden.com/insights/publications/2025/01/us-commerce-dept-rule-expands-licensing-requirements
#     D:5 as of 15 Jan 2025 (Cambodia still listed):
#     https://www.fenwick.com/insights/publications/regulatory-impact-of-arms-embargo-country-designations
#   - License Exception AIA, 15 CFR 740.27; for 4E091 only to entities
#     headquartered in Supplement No. 5 (a) and located outside Macau/D:5
#     (15 CFR 740.2(a)(9)(ii)), subject to security conditions (ref §3):
#     https://www.bis.gov/ear/title-15/subtitle-b/chapter-vii/subchapter-c/part-740/ss-74027-license-exception-artificial
#     https://github.com/seelpeed-debug/export-controls-agent-mcp/blob/3a0bf5eb5890c1e6f79796cf89992eb7c974021a/src/rules/license-exceptions.js
#   - Data Center VEU, universal and national, 15 CFR 748.15 (ref §3):
#     https://checkoutapi.com/regulations/title15_chapterVII-i1_part748_section748.15
#     https://coalfire.com/the-coalfire-blog/the-framework-for-ai-diffusion-what-you-need-to-know
#   - Headquarters and ultimate parent decide the tier, wherever the entity
#     sits: Skadden and Covington (cov.com) summaries (ref §2).
#   - Deemed exports and the employee carve-out (ref §5, §3): see
#     lib.destinations in rego/lib/lib.rego.
#   - Restricted parties (ref §4, "Screening entities"):
#     https://www.trade.gov/consolidated-screening-list

_cfg := data.weightgate.ai_diffusion

# METADATA
# title: destination_group
# description: >-
#   The group this bundle puts destination c (an ISO 3166-1 or 3166-2 code)
#   in on the request date: "embargoed", "country_of_concern", "tier1" or
#   "tier2", the first that applies. Not part of any decision: it is for
#   reports that group destinations (the console's refusals by destination),
#   so that they group them as this bundle's data does on that date.
destination_group(c) := "embargoed" if {
	_embargoed(c)
} else := "country_of_concern" if {
	_concern(c)
} else := "tier1" if {
	_tier1(c)
} else := "tier2"

# METADATA
# title: decision
# description: >-
#   The answer for one download: {"allow": bool, "code": string,
#   "reason": string, "basis": string, "visible": bool}. Defined for every well-formed input;
#   undefined (a policy_error in the gateway) for malformed input such as an
#   unknown object.kind, a classified model whose weights are neither "open"
#   nor "closed", a compute that is not a number, or (for closed weights) a
#   broken data list or a registry that is not a list.
#
#   Extension denials (data.weightgate.extensions.<name>.deny) override an
#   allow of the base table; a base denial is reported as is (lib.with_extensions).
# entrypoint: true
decision := object.union(lib.with_extensions(_table), {"visible": visible})

# METADATA
# title: visible
# description: >-
#   Whether the requester may know that the model exists. The gateway answers
#   a denied request for a model that is not open-weight, when visible is
#   false, exactly as for a model that does not exist, on every endpoint
#   (listings, model info, tree, downloads, S3). Open-weight models are
#   visible to everyone; a closed or unclassified model is hidden from
#   anonymous requesters and from those who could never obtain it (see
#   _hidden), and visible to everyone else, who are told why they are
#   refused: a Tier 2 requester can apply for a licence.
#
#   The gateway evaluates this rule on its own for listings and remembers
#   its answers by what it reads (docs/policies.md): it must equal
#   decision.visible, and should not read the model's id or the object.
visible := true if {
	lib.open_weights
} else := false if {
	lib.anonymous
} else := false if {
	# Whether a denial applies, not what it names: a constant what keeps
	# the model's id out of what visible reads, so that the gateway can
	# remember its answers across the models of a listing.
	_hidden("the files of this model")
} else := true if {
	_kind_decided
}

# _kind_decided: the decision table decides this request's file, as far as
# its kind goes: every file of an unclassified model, and of a classified
# one only the kinds it knows. visible is undefined where the decision is
# for that reason, so that a remembered visible never stands for a request
# the policy cannot decide (the gateway lists no such model).
_kind_decided if not lib.classified

_kind_decided if input.object.kind in {"weights", "other"}

# _hidden(what) is the denial, naming what is refused, for a signed-in
# requester a closed or unclassified model is hidden from: a restricted party
# (the operator's registry or a screening hit; a near miss stays visible, so
# that its refusal can ask for a review), an unknown destination (fail
# closed), a comprehensively embargoed destination (location, deemed export,
# headquarters or parent, or the client address), or a country of concern
# for a model ECCN 4E091 controls or that is not yet classified (fail closed:
# it may be). Broken data or registries hide too. The first that applies is
# reported.
_hidden(what) := lib.deny(
	"policy_error",
	sprintf("%s cannot be released: this policy's data or registries are malformed", [what]),
	"weightgate fails closed when its policy cannot decide",
) if {
	not _lists_ok
} else := lib.deny(
	"restricted_party",
	sprintf("%s cannot be released: %s is on the restricted-party list %s (%s)", [what, _party_name(p), lib.field(p, "list", "of this gateway"), lib.field(p, "reason", "no reason given")]),
	"restricted-party screening: listed parties face license requirements for all items subject to the EAR and a policy of denial (15 CFR part 744; Consolidated Screening List)",
) if {
	p := lib.restricted_party
} else := d if {
	lib.screening_hit
	d := lib.screening_denial(what)
} else := lib.deny(
	"unknown_destination",
	sprintf("%s cannot be released: %s, so the export destination cannot be determined", [what, _destination_problem]),
	"the destination decides the license requirement: ECCN 4E091, 15 CFR 742.6(a)(13); deemed exports go to the country of nationality or permanent residence (ref §5); embargoes, 15 CFR part 746",
) if {
	_destination_problem
} else := lib.deny(
	"embargoed_destination",
	sprintf("%s cannot be released %s", [what, _hidden_to(p[0], _embargo_label(p[1]))]),
	"comprehensive embargo: 15 CFR part 746 (Country Groups E:1/E:2, Supplement No. 1 to part 740) and OFAC sanctions",
) if {
	ps := [p | some d in _destinations; p := _embargoed_party(d[0], d[1])]
	p := ps[0]
} else := lib.deny(
	"country_of_concern",
	sprintf("%s cannot be released: exports %s require a license from BIS, reviewed with a presumption of denial, and no license exception applies", [what, _hidden_to(p[0], _concern_label(p[1]))]),
	"ECCN 4E091; 15 CFR 742.6(a)(13); Macau and Country Group D:5, Supplement No. 1 to part 740: no license exception, presumption of denial",
) if {
	_controlled_or_unclassified
	ps := [p | some d in _destinations; p := _concern_party(d[0], d[1])]
	p := ps[0]
} else := lib.deny(
	"ip_country_of_concern",
	sprintf("%s cannot be released: your address (%s) is in %s, whatever your token says", [what, lib.client_ip, _ip_concern_label]),
	"the export destination is where the files are received: the client address is in a comprehensively embargoed country (15 CFR part 746) or, for a model controlled by ECCN 4E091, in Macau or Country Group D:5 (15 CFR 742.6(a)(13), presumption of denial)",
) if {
	_embargoed(lib.ip_country)
} else := lib.deny(
	"ip_country_of_concern",
	sprintf("%s cannot be released: your address (%s) is in %s, whatever your token says", [what, lib.client_ip, _ip_concern_label]),
	"the export destination is where the files are received: for a model controlled by ECCN 4E091, Macau and Country Group D:5 (15 CFR 742.6(a)(13), presumption of denial)",
) if {
	_controlled_or_unclassified
	_concern(lib.ip_country)
}

# The lists visibility reads: should one be broken, the model is hidden
# rather than an embargo check silently passing.
_lists_ok if {
	_data_ok
	_registries_ok
}

_controlled_or_unclassified if not lib.classified

_controlled_or_unclassified if {
	_compute_ok
	_controlled
}

# _hidden_to(role, label): to whom a hidden model's files would go, for its
# denial.
_hidden_to("nationality", label) := sprintf("to you as a deemed export to %s, %s", [label, "a country of your nationality or permanent residence"])

_hidden_to(role, label) := _to(role, label) if role != "nationality"

# What a closed model's other files (config, tokenizer, README) are, for
# their denial to a requester the model is hidden from: they are not
# controlled as weights, but they name and describe a model this requester
# may not know of.
_files_of := sprintf("the files of %s", [lib.model_name])

# The decision table. The first matching row wins; closed weights are then
# decided by the rows of _closed_table.
_table := d if {
	# Open weights are screened only when the operator says so
	# (screening.open_weights: deny); then a hit or near miss refuses their
	# weights files like any other.
	lib.open_weights
	input.object.kind == "weights"
	lib.screening_applies_to_open
	lib.screening_flagged
	d := lib.screening_denial(_weights_of)
} else := lib.allow(
	"open_weights",
	sprintf("%s is an open-weight (published) model: its files may be downloaded by anyone", [lib.model_name]),
	"not subject to ECCN 4E091: published weights, 15 CFR 734.7(a)",
) if {
	lib.open_weights
} else := lib.deny(
	"authentication_required",
	sprintf("sign in to download files of %s: it is not an open-weight model, so the policy must know who you are and where you are", [lib.model_name]),
	"the destination and the requester's headquarters decide the license requirement: ECCN 4E091, 15 CFR 742.6(a)(13); Supplement No. 5 to part 740",
) if {
	lib.anonymous
} else := lib.deny(
	"unclassified_model",
	sprintf("%s has no valid export classification (its export.yaml is missing or invalid), so its files cannot be released until it is classified", [lib.model_name]),
	"no export classification on record: self-classification or a BIS classification request (15 CFR 748.1, 748.3) comes first",
) if {
	not lib.classified
} else := d if {
	lib.closed_weights
	input.object.kind == "other"
	d := _hidden(_files_of)
} else := lib.allow(
	"not_weights",
	sprintf("%s is not a weights file: ECCN 4E091 controls only the weights (parameters) of %s, so its other files may be downloaded", [lib.file_name, lib.model_name]),
	"outside ECCN 4E091: 'parameters' are the values learned in training (4E091 Technical Note 1, Supplement No. 1 to part 774)",
) if {
	lib.closed_weights
	input.object.kind == "other"
} else := _with_threshold(_closed_table) if {
	_closed_weights
}

# The rows for closed weights (reached only when _closed_weights holds). The
# first matching row wins; without one (a destination without a verdict) the
# decision is undefined.
_closed_table := lib.deny(
	"restricted_party",
	sprintf("the weights of %s cannot be released: %s is on the restricted-party list %s (%s)", [lib.model_name, _party_name(p), lib.field(p, "list", "of this gateway"), lib.field(p, "reason", "no reason given")]),
	sprintf("restricted-party screening (%s): listed parties face license requirements for all items subject to the EAR and a policy of denial (15 CFR part 744; Consolidated Screening List)", [lib.field(p, "list", "operator's restricted_parties registry")]),
) if {
	p := lib.restricted_party
} else := d if {
	lib.screening_flagged
	d := lib.screening_denial(_weights_of)
} else := lib.deny(
	"unknown_destination",
	sprintf("the weights of %s cannot be released: %s, so the export destination cannot be determined", [lib.model_name, _destination_problem]),
	"the destination decides the license requirement: ECCN 4E091, 15 CFR 742.6(a)(13); deemed exports go to the country of nationality or permanent residence (ref §5); embargoes, 15 CFR part 746",
) if {
	_destination_problem
} else := _most_restrictive if {
	# A destination the token names is refused on its own ground first:
	# that reason is the more fundamental one.
	_most_restrictive.allow == false
} else := lib.deny(
	"ip_country_of_concern",
	sprintf("the weights of %s cannot be released: your address (%s) is in %s, whatever your token says", [lib.model_name, lib.client_ip, _ip_concern_label]),
	"the export destination is where the weights are received: the client address is in a comprehensively embargoed country (15 CFR part 746) or, for a model controlled by ECCN 4E091, in Macau or Country Group D:5 (15 CFR 742.6(a)(13), presumption of denial)",
) if {
	_ip_concern
} else := d if {
	d := lib.location_denial(_weights_of)
} else := lib.deny(
	"unknown_destination",
	sprintf("the weights of %s cannot be released: %s, so the export destination cannot be determined", [lib.model_name, _missing_claim]),
	"the destination decides the license requirement: ECCN 4E091, 15 CFR 742.6(a)(13); a release to a foreign person is a deemed export to their country of nationality or permanent residence (15 CFR 734.13(b); ref §5); headquarters and ultimate parent decide the tier (Supplement No. 5 to part 740). Missing claims are not assumed (fail closed)",
) if {
	_controlled
	_missing_claim
} else := _with_releases(_most_restrictive)

# _with_releases(d): an allow names every capped licence any destination's
# verdict relied on (a deemed export's licence as much as the location's),
# as {"licence", "max_releases"} under "releases": the gateway reserves one
# release of each before it sends a byte, and asks again, with the new
# counts, should one be used up meanwhile.
_with_releases(d) := object.union(d, {"releases": rs}) if {
	d.allow == true
	# A set, so that one licence covering two destinations is counted once.
	rs := sort({r |
		some x in _destinations
		v := _verdict(x[0], x[1])
		some r in object.get(v, "releases", [])
	})
	count(rs) > 0
} else := d

# What a denial of closed weights refuses, for lib.screening_denial and
# lib.location_denial.
_weights_of := sprintf("the weights of %s", [lib.model_name])

# Every closed-weights decision's basis names the control threshold it used
# and why.
_with_threshold(d) := object.union(d, {"basis": sprintf("%s; %s%s", [d.basis, _threshold_basis, _fine_tune_basis])})

_party_name(p) := lib.field(p, "name", lib.field(p, "entity_id", lib.field(p, "subject_id", "the requester")))

# ---------------------------------------------------------------------------
# Preconditions of every closed-weights row.

_closed_weights if {
	lib.closed_weights
	input.object.kind == "weights"
	_data_ok
	_compute_ok
	_registries_ok
}

# The lists and tunables every closed-weights row relies on. Should one be
# missing or mistyped (a custom bundle, a bad edit), no such row matches, the
# decision is undefined and the gateway denies with policy_error, rather than
# an embargo check silently passing.
_data_ok if {
	is_array(_cfg.tier1_including_us)
	_d5_versions_ok
	is_array(_cfg.embargoed_regions)
	is_array(_cfg.united_states)
	is_object(_cfg.territory_parent)
	is_boolean(_cfg.territory_parent_confirmed)
	is_boolean(_cfg.employee_carve_out_covers_d5)
	is_array(_cfg.concern_extra_not_in_d5)
	is_array(_cfg.treated_as_china)
	is_array(_cfg.comprehensively_embargoed)
	is_number(_cfg.control_threshold_flop)
	is_string(_cfg.controlled_eccn)
	is_number(_cfg.fine_tune_floor_flop)
	is_number(_cfg.fine_tune_fraction)
}

# Every compute figure the threshold tests read is a number.
_compute_ok if {
	is_number(_flop)
	is_number(_fine_tune_flop)
	is_number(_base_flop)
	is_number(_frontier_flop)
}

# A registry that is present but not a list is an operator error: the
# decision is undefined (policy_error) rather than a check silently passing.
_registries_ok if {
	is_array(lib.registry("licences"))
	is_array(lib.registry("veu"))
	is_array(lib.registry("attestations"))
	is_array(lib.registry("restricted_parties"))
}

# ---------------------------------------------------------------------------
# The client address (lib: ip_country, location_denial). An embargoed country
# refuses any closed weights, as an embargoed location does; a country of
# concern refuses only what ECCN 4E091 controls, as a location there does.

_ip_concern if _embargoed(lib.ip_country)

_ip_concern if {
	_controlled
	_concern(lib.ip_country)
}

_ip_concern_label := _embargo_label(lib.ip_country) if {
	_embargoed(lib.ip_country)
} else := _concern_label(lib.ip_country)

# ---------------------------------------------------------------------------
# Destinations.

_tier1_list := _cfg.tier1_including_us

# _country(c): the country destination c is judged as: the United States
# for its territories (15 CFR 772.1), the country of a subdivision
# ("UA" for "UA-14").
_country(c) := "US" if {
	lib.country_of(c) in _cfg.united_states
} else := lib.country_of(c)

# _parent(c): the country a territory belongs to (territory_parent), or c's
# own country.
_parent(c) := p if {
	p := _cfg.territory_parent[_country(c)]
} else := _country(c)

# Tier 1: the United States (with its territories) and Supplement No. 5 (a).
# Another country's territory is Tier 1 by its parent only once that reading
# is confirmed (territory_parent_confirmed): until then, a licence is required
# (the conservative reading).
_tier1(c) if _country(c) in _tier1_list

_tier1(c) if {
	_cfg.territory_parent_confirmed == true
	_parent(c) in _tier1_list
}

# Countries of concern: Country Group D:5 as it stood on the request date
# (d5_versions), plus Macau, which the EAR names separately, plus Hong Kong,
# which the EAR treats as China (ref §2). A territory follows its parent for
# every restriction. (The lists are arrays wherever this is used: _data_ok
# checks them.)
_concern(c) if _country(c) in _countries_of_concern

_concern(c) if _parent(c) in _countries_of_concern

_countries_of_concern := array.concat(
	array.concat(_d5, _cfg.concern_extra_not_in_d5),
	_cfg.treated_as_china,
)

# _d5: the members of the latest d5_versions entry dated on or before the
# request date; without a request date, or before the first entry, every
# country any entry lists (fail closed: the widest list).
_d5 := ms[0] if {
	dated := [v | some v in _cfg.d5_versions; v.from <= lib.today]
	count(dated) > 0
	froms := sort([v.from | some v in dated])
	latest := froms[count(froms) - 1]
	ms := [v.members | some v in dated; v.from == latest]
} else := [c | some v in _cfg.d5_versions; some c in v.members]

_d5_versions_ok if {
	is_array(_cfg.d5_versions)
	count(_cfg.d5_versions) > 0
	every v in _cfg.d5_versions {
		is_object(v)
		lib.date(v.from)
		is_array(v.members)
	}
}

# Embargoed: a comprehensively embargoed country (with its territories) or
# an embargoed region, such as Crimea (UA-43), named by its ISO 3166-2 code.
_embargoed(c) if c in _cfg.embargoed_regions

_embargoed(c) if _country(c) in _cfg.comprehensively_embargoed

_embargoed(c) if _parent(c) in _cfg.comprehensively_embargoed

# The destinations of this release: the location, then each deemed-export
# country (ref §5; lib.destinations applies the U.S.-person and employee
# carve-outs). The employee carve-out never lifts an embargo, and lifts a
# country of concern only when the operator chose so (_never_carved).
_destinations := lib.destinations({
	"tier1": _tier1_list,
	"united_states": _cfg.united_states,
	"never_carved": _never_carved,
})

_never_carved := array.concat(_cfg.comprehensively_embargoed, _cfg.embargoed_regions) if {
	_carve_out_covers_d5
} else := array.concat(
	array.concat(_cfg.comprehensively_embargoed, _cfg.embargoed_regions),
	_countries_of_concern,
)

# Whether the employee carve-out covers nationals of Macau and D:5: the
# operator's setting employee_carve_out_d5 (include | exclude) when given,
# else the bundle's employee_carve_out_covers_d5 (false: exclude).
_carve_out_covers_d5 if lib.setting("employee_carve_out_d5", _carve_out_d5_default) == "include"

_carve_out_d5_default := "include" if {
	_cfg.employee_carve_out_covers_d5 == true
} else := "exclude"

# _missing_claim: for controlled weights, the claim the token lacks that the
# destination depends on. A token without a nationality must not pass for a
# U.S. person's, nor one without parent_hq for an entity parented where it
# is located.
_missing_claim := "your token carries no nationality claim (nationality, permanent_residence, or us_person for a U.S. person): a release to a foreign person is a deemed export to their country, so it must be stated" if {
	not lib.nationality_known
} else := "your token carries no parent_hq claim (the headquarters country of your entity's ultimate parent, or your entity's own when it has no parent), which decides the license requirement" if {
	not lib.parent_hq_known
}

_destination_problem := "your location (country) is missing or is not an ISO 3166 country or subdivision code" if {
	not lib.valid_code(lib.country)
} else := "the headquarters country of your entity is not an ISO 3166 country or subdivision code" if {
	not lib.valid_code(lib.hq)
} else := "the headquarters country of your entity's ultimate parent is not an ISO 3166 country or subdivision code" if {
	not lib.valid_code(lib.parent_hq)
} else := "one of your nationalities or permanent residences is not an ISO 3166 country or subdivision code (a release to you is an export to those countries)" if {
	some d in _destinations
	not lib.valid_code(d[1])
}

# The most restrictive verdict over all destinations (ref §5: the exact rule
# for dual nationals is UNCONFIRMED, so every foreign nationality counts).
# Ranks: embargoed_destination 4 > country_of_concern 3 > license_exhausted
# and license_expired 2 >
# license_required 1 > any allow 0; among equals the earlier destination
# (the location comes first), so among allows the location's is reported.
# Should a destination have no verdict, the decision is undefined.
_most_restrictive := _verdict(d[0], d[1]).decision if {
	# Most often the location is the only destination.
	count(_destinations) == 1
	d := _destinations[0]
} else := v if {
	verdicts := [[0 - x.rank, i, x.decision] |
		some i, d in _destinations
		x := _verdict(d[0], d[1])
	]
	count(verdicts) == count(_destinations)
	v := sort(verdicts)[0][2]
}

# The three places a release to destination c is judged by, in this order:
# c, hq and parent_hq. _embargoed_party and _concern_party are the first of
# them that is comprehensively embargoed, or a country of concern, as
# [role, country].
_embargoed_party(role, c) := [role, c] if {
	_embargoed(c)
} else := ["hq", lib.hq] if {
	_embargoed(lib.hq)
} else := ["parent_hq", lib.parent_hq] if {
	_embargoed(lib.parent_hq)
}

_concern_party(role, c) := [role, c] if {
	_concern(c)
} else := ["hq", lib.hq] if {
	_concern(lib.hq)
} else := ["parent_hq", lib.parent_hq] if {
	_concern(lib.parent_hq)
}

# _verdict(role, c): the decision for one destination c, with its rank; the
# steps a-i of docs/policies.md ("How a request is decided").
_verdict(role, c) := {"rank": 4, "decision": lib.deny(
	"embargoed_destination",
	_embargo_reason(p),
	"comprehensive embargo: 15 CFR part 746 (Country Groups E:1/E:2, Supplement No. 1 to part 740) and OFAC sanctions",
)} if {
	p := _embargoed_party(role, c)
} else := {"rank": 3, "decision": lib.deny(
	"country_of_concern",
	_concern_reason(p),
	"ECCN 4E091; 15 CFR 742.6(a)(13); Macau and Country Group D:5, Supplement No. 1 to part 740: no license exception, presumption of denial",
)} if {
	# A licence does not override this row: the review policy for D:5 and
	# Macau is a presumption of denial and no exception applies (ref §2), so
	# this bundle reads any licence naming them as an error (conservative).
	_controlled
	p := _concern_party(role, c)
} else := {"rank": 0, "decision": lib.allow(
	"not_an_export",
	sprintf("%s is a closed-weight model %s; its release to you, a U.S. person in the United States (%s) acting for %s, is not an export", [lib.model_name, _control_phrase, c, _hq_phrase]),
	"not an export: a release inside the United States (15 CFR 772.1, with its territories) to a U.S. person (a citizen, permanent resident or protected individual, not a foreign person: no deemed export, 15 CFR 734.13; ref §5); ECCN 4E091 controls exports, reexports and transfers (in-country), 15 CFR 742.6(a)(13)",
)} if {
	# Only for an entity headquartered, with its parent, in Tier 1: a U.S.
	# person acting for an entity headquartered elsewhere is still decided as
	# a release to that entity (conservative reading).
	_controlled
	role == "location"
	lib.us_person(_cfg.united_states)
	_tier1(lib.hq)
	_tier1(lib.parent_hq)
} else := {"rank": 0, "decision": lib.allow(
	"license_exception_aia",
	sprintf("%s is a closed-weight model %s; %s is authorised under License Exception AIA (Tier 1), subject to its conditions", [lib.model_name, _control_phrase, _release(role, c)]),
	"License Exception AIA, 15 CFR 740.27 (United States and paragraph (a) of Supplement No. 5 to part 740)",
)} if {
	_controlled
	_tier1(c)
	_tier1(lib.hq)
	_tier1(lib.parent_hq)
} else := {"rank": 0, "decision": lib.allow(
	"veu_authorised",
	sprintf("%s is a closed-weight model %s; %s is authorised: your entity is a Universal Data Center Validated End User (UVEU) %s", [lib.model_name, _control_phrase, _release(role, c), _uveu_phrase(c)]),
	"Data Center VEU (universal), 15 CFR 748.15 and Supplements No. 7-10 to part 748, for an entity headquartered in Supplement No. 5 (a); VEU security requirements apply. The UVEU/NVEU split of model-weight rights is UNCONFIRMED: only UVEU is relied on",
)} if {
	_controlled
	_uveu(c)
	_tier1(lib.hq)
	_tier1(lib.parent_hq)
} else := {"rank": 0, "decision": lib.allow(
	"license_exception_aia_secured",
	sprintf("%s is a closed-weight model %s; %s is authorised under License Exception AIA for an entity headquartered in Tier 1 and located outside Tier 1, Macau and Country Group D:5, its weights-security posture attested for its site in %s (attestation %s, %s: %s, attested on %s, expires %s)", [lib.model_name, _control_phrase, _release(role, c), c, a.id, _site_name(a), a.standard, a.attested_on, a.not_after]),
	sprintf("License Exception AIA, 15 CFR 740.27 and 740.2(a)(9)(ii): ECCN 4E091 to entities headquartered in Supplement No. 5 (a) and located outside Macau/D:5, subject to security conditions (their text, and whether they are the Supplement No. 10 to part 748 requirements, is UNCONFIRMED: this bundle requires an attestation per site, in force on the request date); relied on attestation %s for site %s (%s), expires %s", [a.id, _site_name(a), c, a.not_after]),
)} if {
	# Reached only when c is neither Tier 1 (step c) nor a country of
	# concern (step b): a Tier 2 destination.
	_controlled
	_tier1(lib.hq)
	_tier1(lib.parent_hq)
	atts := _site_attestations(c)
	a := atts[0]
} else := {"rank": 0, "decision": lib.allow(
	"licensed",
	sprintf("%s is a closed-weight model %s; %s is authorised by BIS licence %s (licensee %s; consignee %s; end user %s; valid %s to %s%s)", [lib.model_name, _control_phrase, _release(role, c), l.id, _party(l.licensee), _party(l.consignee), _party(l.end_user), l.not_before, l.not_after, _remaining_phrase(l)]),
	sprintf("BIS licence %s (ECCN 4E091, 15 CFR 742.6(a)(13); 15 CFR 750.7: the licence's terms and conditions bind the release; licensee %s, end user %s, destinations %v, valid %s to %s%s; conditions: %s)", [l.id, _party(l.licensee), l.end_user.entity_id, l.destinations, l.not_before, l.not_after, _cap_phrase(l), _conditions(l)]),
), "releases": _capped(l)} if {
	_controlled
	ls := [l | some l in _covering_licences(c); _licence_in_force(l); not _exhausted(l)]
	l := ls[0]
} else := {"rank": 2, "decision": lib.deny(
	"license_exhausted",
	sprintf("%s is a closed-weight model %s; %s requires a license from BIS, and licence %s allows at most %d releases of weights files, all of which have been made", [lib.model_name, _control_phrase, _release(role, c), l.id, l.max_releases]),
	sprintf("ECCN 4E091; 15 CFR 742.6(a)(13): license required; BIS licence %s is exhausted (its %d releases are used; 15 CFR 750.7: a licence authorises only what its terms allow)", [l.id, l.max_releases]),
)} if {
	_controlled
	ls := [l | some l in _covering_licences(c); _licence_in_force(l)]
	l := ls[0]
} else := {"rank": 2, "decision": lib.deny(
	"license_expired",
	sprintf("%s is a closed-weight model %s; %s requires a license from BIS, and your entity's licence %s is not valid on %s (valid %s to %s)", [lib.model_name, _control_phrase, _release(role, c), l.id, _day, l.not_before, l.not_after]),
	sprintf("ECCN 4E091; 15 CFR 742.6(a)(13): license required; BIS licence %s is outside its validity period", [l.id]),
)} if {
	_controlled
	ls := _covering_licences(c)
	l := ls[0]
} else := {"rank": 1, "decision": lib.deny(
	"license_required",
	sprintf("%s is a closed-weight model %s; %s requires a license from BIS: License Exception AIA covers only requesters headquartered in Tier 1 (the United States and Supplement No. 5 (a)) and located in Tier 1, or located elsewhere outside Macau and D:5 with an attested security posture%s", [lib.model_name, _control_phrase, _release(role, c), _veu_note(c)]),
	"ECCN 4E091; 15 CFR 742.6(a)(13): license required to all destinations; License Exception AIA (15 CFR 740.27) not available; no UVEU authorisation or BIS licence on record",
)} if {
	_controlled
} else := {"rank": 0, "decision": _uncontrolled}

_embargo_reason(p) := sprintf("the weights of %s cannot be released to you as a deemed export to %s, %s: %s is %s", [lib.model_name, p[1], _home_phrase(p[1]), p[1], _embargo_kind(p[1])]) if {
	p[0] == "nationality"
} else := sprintf("the weights of %s cannot be released %s", [lib.model_name, _to(p[0], _embargo_label(p[1]))])

# _embargo_label(c): c and why it is embargoed, for reasons.
_embargo_label(c) := sprintf("%s, %s", [c, _embargo_kind(c)])

_embargo_kind(c) := "an embargoed region (15 CFR 746.6)" if {
	c in _cfg.embargoed_regions
} else := "a comprehensively embargoed destination"

_concern_reason(p) := sprintf("%s is a closed-weight model %s; it cannot be released to you as a deemed export to %s, %s: exports to %s require a license from BIS, reviewed with a presumption of denial, and no license exception applies", [lib.model_name, _control_phrase, p[1], _home_phrase(p[1]), _concern_label(p[1])]) if {
	p[0] == "nationality"
} else := sprintf("%s is a closed-weight model %s; exports %s require a license from BIS, reviewed with a presumption of denial, and no license exception applies", [lib.model_name, _control_phrase, _to(p[0], _concern_label(p[1]))])

_to("location", c) := sprintf("to %s", [c])

_to("hq", c) := sprintf("to an entity headquartered in %s", [c])

_to("parent_hq", c) := sprintf("to an entity whose ultimate parent is headquartered in %s", [c])

# Who receives the weights at destination c, for reasons.
_release("location", c) := sprintf("release to a requester in %s acting for %s", [c, _hq_phrase])

_release("nationality", c) := sprintf("release to you, acting for %s, as a deemed export to %s, %s,", [_hq_phrase, c, _home_phrase(c)])

_hq_phrase := sprintf("an entity headquartered in %s", [lib.hq]) if {
	lib.hq == lib.parent_hq
} else := sprintf("an entity headquartered in %s whose ultimate parent is headquartered in %s", [lib.hq, lib.parent_hq])

_home_phrase(c) := "a country of your nationality" if lib.is_nationality(c) else := "your country of permanent residence"

_concern_label(c) := sprintf("%s (Hong Kong, treated as China: a country of concern, Country Group D:5)", [c]) if {
	c in _cfg.treated_as_china
} else := sprintf("%s (Macau, a country of concern)", [c]) if {
	c in _cfg.concern_extra_not_in_d5
} else := sprintf("%s (a country of concern, Country Group D:5)", [c])

_day := d if {
	d := lib.today
} else := "the request date (unknown)"

# ---------------------------------------------------------------------------
# Registries (data.weightgate.registry.*, see docs/policies.md).

# Licences (the licences registry; schema in docs/policies.md). A licence
# names its licensee (the exporter: the operator), its consignee and its end
# user (each {"entity_id", "name"}: the parties to the transaction, 15 CFR
# 748.5), its destinations, the models or ECCN it covers, its
# validity (not_before and not_after, both inclusive), optional free-text
# conditions (shown in the basis of every release under it) and an optional
# cap, max_releases, on the releases of weights files it authorises.
#
# A licence covers a release to c when it is well-formed, its end user is
# the requester's entity (the party that receives the weights), c is among
# its destinations, and it names the model or the controlled ECCN. A
# malformed entry grants nothing. The gateway counts the releases made
# under each capped licence durably and passes them as
# input.licence_releases[id]; a capped licence whose releases are all used is
# exhausted (license_exhausted). How many releases a licence allows is the
# licence's own term: the EAR sets no number (15 CFR 750.7).
_covering_licences(c) := [l |
	some l in lib.registry("licences")
	_licence_ok(l)
	l.end_user.entity_id == lib.entity_id
	_lists_country(l.destinations, c)
	_licence_names_model(l)
]

_licence_ok(l) if {
	is_object(l)
	is_string(l.id)
	l.id != ""
	_licence_party_ok(l.licensee)
	_licence_party_ok(l.consignee)
	_licence_party_ok(l.end_user)
	l.end_user.entity_id != ""
	is_array(l.destinations)
	is_array(object.get(l, "models", []))
	is_array(object.get(l, "eccns", []))
	lib.date(l.not_before)
	lib.date(l.not_after)
	is_string(object.get(l, "conditions", ""))
	_cap_ok(object.get(l, "max_releases", null))
}

_licence_party_ok(p) if {
	is_object(p)
	is_string(object.get(p, "entity_id", ""))
	lib.field(p, "name", "") != ""
}

# max_releases is absent (null: no cap) or a whole number of at least 1; a
# cap of 0, a fraction or a string makes the licence malformed.
_cap_ok(null)

_cap_ok(n) if {
	is_number(n)
	n >= 1
	n == floor(n)
}

_licence_in_force(l) if {
	lib.today
	l.not_before <= lib.today
	lib.today <= l.not_after
}

_capped(l) := [{"licence": l.id, "max_releases": l.max_releases}] if {
	is_number(object.get(l, "max_releases", null))
} else := []

# The releases made under licence l, as the gateway counted them: none when
# it has no count for l. A count that is not a number, or counts that are not
# an object, are read as the cap itself (exhausted: fail closed). Read by
# reference, so that the decision cache keys on input.licence_releases only.
_used(l) := n if {
	n := input.licence_releases[l.id]
	is_number(n)
} else := 0 if {
	_counts_ok
	not _counted(l)
} else := l.max_releases

_counted(l) if {
	_ = input.licence_releases[l.id]
}

_counts_ok if is_object(input.licence_releases)

_counts_ok if not _has_counts

_has_counts if {
	_ = input.licence_releases
}

_exhausted(l) if {
	is_number(object.get(l, "max_releases", null))
	_used(l) >= l.max_releases
}

_remaining_phrase(l) := sprintf("; %d of its %d releases left before this one", [l.max_releases - _used(l), l.max_releases]) if {
	is_number(object.get(l, "max_releases", null))
} else := ""

_cap_phrase(l) := sprintf(", at most %d releases of weights files", [l.max_releases]) if {
	is_number(object.get(l, "max_releases", null))
} else := ", no cap on releases"

_conditions(l) := lib.field(l, "conditions", "none stated")

_licence_names_model(l) if input.model.id in object.get(l, "models", [])

_licence_names_model(l) if {
	some e in object.get(l, "eccns", [])
	is_string(e)
	upper(trim_space(e)) == _cfg.controlled_eccn
}

_party(p) := sprintf("%s (%s)", [p.name, p.entity_id]) if {
	lib.field(p, "entity_id", "") != ""
} else := p.name

_lists_country(list, c) if {
	is_array(list)
	some x in list
	is_string(x)
	upper(trim_space(x)) == c
}

# VEU (ref §3): a Universal Data Center VEU entry of the requester's entity,
# valid today, listing c; or the trusted claim entity.veu == "uveu" (the
# gateway sets it only when its configuration trusts that claim; the claim
# lists no countries, so it covers any destination outside Macau, D:5 and the
# embargoes, which earlier rows deny). NVEU does not authorise receipt: the
# split of model-weight rights between UVEU and NVEU is UNCONFIRMED, and an
# NVEU is described as a per-country data-center authorisation, not one to
# receive a Tier 1 owner's controlled weights (conservative reading).
_uveu(c) if {
	some e in _veu_entries("uveu")
	_lists_country(e.countries, c)
}

_uveu(_) if _veu_claim == "uveu"

_uveu_phrase(c) := sprintf("listed for %s (%s)", [c, lib.field(e, "name", e.entity_id)]) if {
	es := [e | some e in _veu_entries("uveu"); _lists_country(e.countries, c)]
	e := es[0]
} else := "by a claim this gateway trusts"

_veu_entries(status) := [e |
	some e in lib.entries("veu")
	is_string(e.status)
	lower(trim_space(e.status)) == status
]

_veu_claim := lower(trim_space(v)) if {
	v := input.subject.entity.veu
	is_string(v)
} else := ""

_nveu if count(_veu_entries("nveu")) > 0

_nveu if _veu_claim == "nveu"

_veu_note(c) := sprintf(". Your entity's National Data Center VEU (NVEU) status does not authorise it to receive controlled weights (the UVEU/NVEU split of model-weight rights is UNCONFIRMED; this policy reads it conservatively)%s", [_uveu_note(c)]) if {
	_nveu
} else := _uveu_note(c)

_uveu_note(c) := sprintf(". Your entity's UVEU authorisation does not cover %s: it must list %s, and the entity and its ultimate parent must be headquartered in Tier 1", [c, c]) if {
	count(_veu_entries("uveu")) > 0
} else := ""

# Security attestations (AIA's security conditions, ref §3), one per site:
# an attestations registry entry {"id", "entity_id", "site": {"name",
# "country"}, "standard", "attested_on", "not_after"} of the requester's
# entity for a site in the destination country c, attested on or before the
# request date and not expired (not_after inclusive). The security
# conditions attach to where the weights are held, so an attestation for
# one site (or one country) says nothing of another, and each has an expiry
# (15 CFR 740.27 as published in 90 FR 4544; the text of the conditions is
# UNCONFIRMED, see the basis). A malformed entry attests nothing. The
# entity-wide trusted claim entity.security_attested names no site and no
# expiry, so this bundle no longer relies on it.
_site_attestations(c) := [e |
	some e in lib.registry("attestations")
	_attestation_ok(e)
	e.entity_id == lib.entity_id
	upper(trim_space(e.site.country)) == c
	lib.today
	e.attested_on <= lib.today
	lib.today <= e.not_after
]

_attestation_ok(e) if {
	is_object(e)
	lib.field(e, "id", "") != ""
	lib.field(e, "entity_id", "") != ""
	is_object(e.site)
	lib.field(e.site, "country", "") != ""
	lib.field(e, "standard", "") != ""
	lib.date(e.attested_on)
	lib.date(e.not_after)
}

_site_name(a) := lib.field(a.site, "name", a.site.country)

# ---------------------------------------------------------------------------
# ECCN 4E091 (ref §1): what is controlled, and the threshold.

_flop := input.model.training_compute_flop

_fine_tune_flop := object.get(input, ["model", "fine_tune_compute_flop"], 0)

_frontier_flop := f if {
	f := object.get(input, ["frontier", "flop"], 0)
	f != null
} else := 0

_fine_tune if {
	b := input.model.base_model
	is_string(b)
	b != ""
}

_base_model := b if {
	_fine_tune
	b := input.model.base
	is_object(b)
}

_base_name := lib.field(_base_model, "id", input.model.base_model) if _base_model else := input.model.base_model

# The base's training compute; 0 when there is no base or it is not found.
_base_flop := f if {
	f := object.get(_base_model, "training_compute_flop", 0)
} else := 0

# Exclusion (a): a fine-tune of a published model. Its base must be in the
# catalog, classified and open; any other fine-tune is judged on its total
# compute like any closed model.
_open_base if {
	_base_model.found == true
	_base_model.classified == true
	_base_model.weights == "open"
}

# Operations count pre-training plus any later training (Technical Note 2).
_total := max([_flop, _base_flop + _fine_tune_flop]) if _fine_tune else := _flop

# The moving floor (exclusion (b)): control starts at the greater of 10^26
# ("10^26 or more": >=) and the training compute of the most capable
# published model, the open-weight frontier. Whether BIS, AISI or DOE ever
# published a benchmark-equivalent figure is UNCONFIRMED: the frontier is the
# catalog's largest open model or the operator's configured figure.
_threshold := max([_cfg.control_threshold_flop, _frontier_flop])

_frontier_raises if _frontier_flop > _cfg.control_threshold_flop

_frontier_phrase := sprintf("%s operations (%s)", [_num(_frontier_flop), _frontier_source])

_frontier_source := sprintf("the catalog's largest classified open-weight model, %s", [m]) if {
	input.frontier.source == "catalog"
	m := input.frontier.model
	is_string(m)
	m != ""
} else := "configured by the operator" if {
	input.frontier.source == "configured"
} else := sprintf("source %v", [object.get(input, ["frontier", "source"], "none")])

_threshold_basis := sprintf("control threshold %s operations: the open-weight frontier, %s, is above the 10^26 of the ECCN 4E091 heading, and exclusion (b) leaves models below it uncontrolled", [_num(_threshold), _frontier_phrase]) if {
	_frontier_raises
} else := sprintf("control threshold %s operations: the ECCN 4E091 heading ('10^26 or more operations'); the open-weight frontier, %s, does not raise it", [_num(_threshold), _frontier_phrase]) if {
	_frontier_flop > 0
} else := sprintf("control threshold %s operations: the ECCN 4E091 heading ('10^26 or more operations'); no open-weight frontier is known to raise it (exclusion (b))", [_num(_threshold)])

# For a fine-tune, the basis also says how its operations were counted.
_fine_tune_basis := sprintf("; fine-tune of the published model %s: exclusion (a) applies only while its further training (%s operations) is at most %s, the greater of 2.5 x 10^25 and 25 percent of the base's %s; its %s operations in total count pre-training and fine-tuning (4E091 Technical Note 2)", [_base_name, _num(_fine_tune_flop), _num(_fine_tune_floor), _num(_base_flop), _num(_total)]) if {
	_open_base
} else := sprintf("; fine-tune of %s, which is not a published model in the catalog: judged on its %s operations in total, pre-training and fine-tuning (4E091 Technical Note 2)", [_base_name, _num(_total)]) if {
	_fine_tune
} else := ""

# The fine-tune floor: "more than 2.5 x 10^25 'operations' or more than 25
# percent" of the base's, "whichever is higher". SemiAnalysis gives 2e25; the
# eCFR transcription's 2.5e25 is used, and is UNCONFIRMED against the Federal
# Register PDF (ref §1); fine_tune_floor_flop is a tunable.
_fine_tune_floor := max([_cfg.fine_tune_floor_flop, _cfg.fine_tune_fraction * _base_flop])

# _num(x) is x for a reason: a computed integer (OPA prints 0.25 * 2e26 as
# 50000000000000000000000000) in the e-notation its inputs are written in.
_num(x) := sprintf("%s%se+%02d", [substring(m, 0, 1), frac, count(s) - 1]) if {
	s := sprintf("%v", [x])
	regex.match(`^[0-9]{8,}$`, s)
	m := trim_right(s, "0")
	frac := _frac(substring(m, 1, -1))
} else := sprintf("%v", [x])

_frac("") := ""

_frac(f) := concat("", [".", f]) if f != ""

_eccn_4e091 if {
	e := input.model.eccn
	is_string(e)
	upper(trim_space(e)) == _cfg.controlled_eccn
}

_over_threshold if {
	_open_base
	_fine_tune_flop > _fine_tune_floor
	_total >= _threshold
}

_over_threshold if {
	not _open_base
	_total >= _threshold
}

# A model whose export classification already says 4E091 is controlled
# whatever its recorded compute, since the counting rules (fine-tuning,
# synthetic data) can put a model over the line that its own training run
# alone does not.
_controlled if _over_threshold

_controlled if _eccn_4e091

_control_phrase := sprintf("trained with %s operations (ECCN 4E091)", [_num(_total)]) if {
	_over_threshold
	not _fine_tune
} else := sprintf("trained with %s operations in total, fine-tuning of %s included (ECCN 4E091)", [_num(_total), _base_name]) if {
	_over_threshold
} else := "classified ECCN 4E091"

# Why a closed model is not controlled (reached only when not _controlled).
_uncontrolled := lib.allow(
	"published_base_fine_tune",
	sprintf("%s is a fine-tune of the open-weight (published) model %s with %s operations of further training, not more than %s (the greater of %s and %v of the base's %s operations): like its base, its weights are not controlled by ECCN 4E091", [lib.model_name, _base_name, _num(_fine_tune_flop), _num(_fine_tune_floor), _num(_cfg.fine_tune_floor_flop), _cfg.fine_tune_fraction, _num(_base_flop)]),
	"ECCN 4E091 exclusion (a): models derived from a published model (15 CFR 734.7(a)) unless further trained with more than 2.5 x 10^25 operations or 25 percent of the base's, whichever is higher (Supplement No. 1 to part 774)",
) if {
	_open_base
	_fine_tune_flop <= _fine_tune_floor
} else := lib.allow(
	"published_base_fine_tune",
	sprintf("%s is a fine-tune of the open-weight (published) model %s; its further training (%s operations) exceeds %s, but its %s operations in total are below the %s threshold: its weights are not controlled by ECCN 4E091", [lib.model_name, _base_name, _num(_fine_tune_flop), _num(_fine_tune_floor), _num(_total), _num(_threshold)]),
	"ECCN 4E091 (Supplement No. 1 to part 774): below the control threshold, exclusion (a) notwithstanding",
) if {
	_open_base
} else := lib.allow(
	"below_open_frontier",
	sprintf("%s was trained with %s operations: 10^26 or more, but fewer than the %s of the open-weight frontier (%s), so exclusion (b) of ECCN 4E091 leaves its weights uncontrolled", [lib.model_name, _num(_total), _num(_frontier_flop), _frontier_source]),
	"ECCN 4E091 exclusion (b): models trained with fewer operations than needed to match the most capable published model (Supplement No. 1 to part 774)",
) if {
	_total >= _cfg.control_threshold_flop
} else := lib.allow(
	"not_controlled",
	sprintf("%s was trained with %s operations, below the %s threshold of ECCN 4E091: its weights are not controlled by the AI Diffusion rule", [lib.model_name, _num(_total), _num(_threshold)]),
	"not controlled by ECCN 4E091 (fewer than 10^26 operations), Supplement No. 1 to part 774",
)
