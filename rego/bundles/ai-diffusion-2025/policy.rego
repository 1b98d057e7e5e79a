# METADATA
# title: weightgate default policy
# description: >-
#   Releases model-weight files under the BIS "Framework for Artificial
#   Intelligence Diffusion" (ECCN 4E091) as issued in January 2025. The rule is
#   still codified in the EAR although BIS said on 13 May 2025 that it would not
#   enforce it; this bundle follows the codified text (the conservative default).
#   Input, output and data are documented in rego/README.md.
package weightgate

# Sources (reference notes: /work/shared/reference/ai-diffusion-rule.md; the
# URLs are also in data.weightgate.bundle.sources):
#
#   - The rule: interim final rule, FR doc. 2025-00636, 90 FR 4544-4584,
#     published 15 Jan 2025, effective 13 Jan 2025, RIN 0694-AJ90.
#     https://frnow.com/Browse/Document/usa/na/fr/2025/1/15/2025-00636
#     https://frtracker.app/fr/2025-00636
#   - ECCN 4E091 ("'Parameters' for an AI model trained utilizing 10^26 or more
#     'operations'", RS worldwide under 15 CFR 742.6(a)(13), Technical Notes,
#     exclusion (a) for "published" weights, 15 CFR 734.7(a)): eCFR part 774,
#     https://www.ecfr.gov/api/versioner/v1/full/2026-07-23/title-15.xml?part=774
#     as transcribed in https://github.com/seelpeed-debug/export-controls-agent-mcp/blob/1c2896ba2f92339be6a48866304fa9f7d1eb5d22/src/data/ccl.json
#   - Only closed weights are caught: https://bis.gov/advanced-compute-resources
#   - Tier 1 = the United States and the 18 destinations of paragraph (a) of
#     Supplement No. 5 to part 740:
#     https://wiley.law/alert-BIS-Announces-New-Regulatory-Framework-for-AI-and-Controls-on-Advanced-Computing-Technology-and-AI-Models
#   - Countries of concern = Macau and Country Group D:5 (Supplement No. 1 to
#     part 740), Hong Kong treated as China:
#     https://github.com/seelpeed-debug/export-controls-agent-mcp/blob/43045d40c3e1e1315aa5d6ae77f52206eee1a99c/src/data/country-groups.json
#     https://skadden.com/insights/publications/2025/01/us-commerce-dept-rule-expands-licensing-requirements
#     D:5 as of 15 Jan 2025 (Cambodia still listed):
#     https://www.fenwick.com/insights/publications/regulatory-impact-of-arms-embargo-country-designations
#   - License Exception AIA, 15 CFR 740.27; for 4E091 only to entities
#     headquartered in Supplement No. 5 (a) and located outside Macau/D:5
#     (15 CFR 740.2(a)(9)(ii)):
#     https://www.bis.gov/ear/title-15/subtitle-b/chapter-vii/subchapter-c/part-740/ss-74027-license-exception-artificial
#     https://github.com/seelpeed-debug/export-controls-agent-mcp/blob/3a0bf5eb5890c1e6f79796cf89992eb7c974021a/src/rules/license-exceptions.js
#     This bundle is stricter than AIA: it also requires the requester to be
#     located in Tier 1.
#   - Headquarters and ultimate parent decide the tier, wherever the entity
#     sits: Skadden and Covington (cov.com) summaries, above.

_cfg := data.weightgate.ai_diffusion

# METADATA
# title: decision
# description: >-
#   The answer for one download: {"allow": bool, "code": string,
#   "reason": string, "basis": string}. Defined for every well-formed input;
#   undefined (a policy_error in the gateway) for malformed input such as an
#   unknown object.kind or a classified model whose weights are neither
#   "open" nor "closed".
#
#   Extension denials (data.weightgate.extensions.<name>.deny) override an
#   allow of the base table; a base denial is reported as is, because its code
#   carries the more fundamental reason (authentication, embargo, ...).
# entrypoint: true
decision := _extension_denial if {
	_base.allow == true
	_extension_denial
} else := _base

# The decision table. The first matching row wins.
_base := _allow(
	"open_weights",
	sprintf("%s is an open-weight (published) model: its files may be downloaded by anyone", [_model]),
	"not subject to ECCN 4E091: published weights, 15 CFR 734.7(a)",
) if {
	_open
} else := _deny(
	"authentication_required",
	sprintf("sign in to download files of %s: it is not an open-weight model, so the policy must know who you are and where you are", [_model]),
	"the destination and the requester's headquarters decide the license requirement: ECCN 4E091, 15 CFR 742.6(a)(13); Supplement No. 5 to part 740",
) if {
	_anonymous
} else := _deny(
	"unclassified_model",
	sprintf("%s has no valid export classification (its export.yaml is missing or invalid), so its files cannot be released until it is classified", [_model]),
	"no export classification on record: self-classification or a BIS classification request (15 CFR 748.1, 748.3) comes first",
) if {
	not _classified
} else := _allow(
	"not_weights",
	sprintf("%s is not a weights file: ECCN 4E091 controls only the weights (parameters) of %s, so its other files may be downloaded", [_file, _model]),
	"outside ECCN 4E091: 'parameters' are the values learned in training (4E091 Technical Note 1, Supplement No. 1 to part 774)",
) if {
	_closed
	input.object.kind == "other"
} else := _deny(
	"unknown_destination",
	sprintf("the weights of %s cannot be released: %s, so the export destination cannot be determined", [_model, _destination_problem]),
	"the destination decides the license requirement: ECCN 4E091, 15 CFR 742.6(a)(13); embargoes, 15 CFR part 746",
) if {
	_closed_weights
	_destination_problem
} else := _deny(
	"embargoed_destination",
	sprintf("the weights of %s cannot be released %s", [_model, _to(p[0], sprintf("%s, a comprehensively embargoed destination", [p[1]]))]),
	"comprehensive embargo: 15 CFR part 746 (Country Groups E:1/E:2, Supplement No. 1 to part 740) and OFAC sanctions",
) if {
	_closed_weights
	p := _embargoed_parties[0]
} else := _deny(
	"country_of_concern",
	sprintf("%s is a closed-weight model %s; exports %s are prohibited", [_model, _control_phrase, _to(p[0], _concern_label(p[1]))]),
	"ECCN 4E091; 15 CFR 742.6(a)(13); Macau and Country Group D:5, Supplement No. 1 to part 740: no license exception, presumption of denial",
) if {
	_closed_weights
	_controlled
	p := _concern_parties[0]
} else := _allow(
	"license_exception_aia",
	sprintf("%s is a closed-weight model %s; release to a requester in %s acting for %s is authorised under License Exception AIA (Tier 1), subject to its conditions", [_model, _control_phrase, _country, _hq_phrase]),
	"License Exception AIA, 15 CFR 740.27 (United States and paragraph (a) of Supplement No. 5 to part 740)",
) if {
	_closed_weights
	_controlled
	_tier1(_country)
	_tier1(_hq)
	_tier1(_parent_hq)
} else := _deny(
	"license_required",
	sprintf("%s is a closed-weight model %s; release to a requester in %s acting for %s requires a license from BIS: License Exception AIA covers only requesters located and headquartered in Tier 1 (the United States and Supplement No. 5 (a))", [_model, _control_phrase, _country, _hq_phrase]),
	"ECCN 4E091; 15 CFR 742.6(a)(13): license required to all destinations; License Exception AIA (15 CFR 740.27) not available",
) if {
	_closed_weights
	_controlled
} else := _allow(
	"not_controlled",
	sprintf("%s was trained with %v operations, below the %v threshold of ECCN 4E091: its weights are not controlled by the AI Diffusion rule", [_model, _flop, _cfg.control_threshold_flop]),
	"not controlled by ECCN 4E091 (fewer than 10^26 operations), Supplement No. 1 to part 774",
) if {
	_closed_weights
	_not_controlled
}

_allow(code, reason, basis) := {"allow": true, "code": code, "reason": reason, "basis": basis}

_deny(code, reason, basis) := {"allow": false, "code": code, "reason": reason, "basis": basis}

# ---------------------------------------------------------------------------
# The request, normalised.

_anonymous if input.subject.anonymous == true

_classified if input.model.classified == true

_open if {
	_classified
	input.model.weights == "open"
}

_closed if {
	_classified
	input.model.weights == "closed"
}

_closed_weights if {
	_closed
	input.object.kind == "weights"
	_data_ok
}

# The lists every closed-weights row relies on. Should one be missing or
# mistyped (a custom bundle, a bad edit), no such row matches, the decision is
# undefined and the gateway denies with policy_error, rather than an embargo
# check silently passing.
_data_ok if {
	is_array(_cfg.tier1_including_us)
	is_array(_cfg[_cfg.d5_in_effect])
	is_array(_cfg.concern_extra_not_in_d5)
	is_array(_cfg.treated_as_china)
	is_array(_cfg.comprehensively_embargoed)
	is_number(_cfg.control_threshold_flop)
	is_string(_cfg.controlled_eccn)
}

_model := m if {
	m := input.model.id
	is_string(m)
	m != ""
} else := "this model"

_file := p if {
	p := input.object.path
	is_string(p)
	p != ""
} else := "this file"

# _code is the upper-cased country code at path in input: "" when absent, and
# "?" (never a valid code) when present but not a string.
_code(path) := upper(trim_space(v)) if {
	v := object.get(input, path, "")
	is_string(v)
} else := "?"

_valid_code(c) if regex.match(`^[A-Z]{2}$`, c)

# Where the requester is: the export destination.
_country := _code(["subject", "country"])

# Where the requester's entity and its ultimate parent are headquartered. A
# missing or empty headquarters counts as the requester's own country: a
# natural person, or an entity that declares none, is judged by location.
_hq := h if {
	h := _code(["subject", "entity", "hq"])
	h != ""
} else := _country

_parent_hq := h if {
	h := _code(["subject", "entity", "parent_hq"])
	h != ""
} else := _country

# The three places a download is judged by, in the order reasons name them.
_parties := [["location", _country], ["hq", _hq], ["parent_hq", _parent_hq]]

_destination_problem := "your location (country) is missing or is not an ISO 3166-1 alpha-2 code" if {
	not _valid_code(_country)
} else := "the headquarters country of your entity is not an ISO 3166-1 alpha-2 code" if {
	not _valid_code(_hq)
} else := "the headquarters country of your entity's ultimate parent is not an ISO 3166-1 alpha-2 code" if {
	not _valid_code(_parent_hq)
}

_to("location", c) := sprintf("to %s", [c])

_to("hq", c) := sprintf("to an entity headquartered in %s", [c])

_to("parent_hq", c) := sprintf("to an entity whose ultimate parent is headquartered in %s", [c])

_hq_phrase := sprintf("an entity headquartered in %s", [_hq]) if {
	_hq == _parent_hq
} else := sprintf("an entity headquartered in %s whose ultimate parent is headquartered in %s", [_hq, _parent_hq])

# ---------------------------------------------------------------------------
# Country lists (data.weightgate.ai_diffusion, see ai_diffusion.json).

_tier1(c) if c in _cfg.tier1_including_us

# Countries of concern: Country Group D:5 as chosen by d5_in_effect (the rule
# as issued: D:5 on 15 Jan 2025, with Cambodia), plus Macau, which the EAR
# names separately, plus Hong Kong, which the EAR treats as China.
_concern(c) if c in _cfg[_cfg.d5_in_effect]

_concern(c) if c in _cfg.concern_extra_not_in_d5

_concern(c) if c in _cfg.treated_as_china

_embargoed_parties := [p | some p in _parties; p[1] in _cfg.comprehensively_embargoed]

_concern_parties := [p | some p in _parties; _concern(p[1])]

_concern_label(c) := sprintf("%s (Hong Kong, treated as China: a country of concern, Country Group D:5)", [c]) if {
	c in _cfg.treated_as_china
} else := sprintf("%s (Macau, a country of concern)", [c]) if {
	c in _cfg.concern_extra_not_in_d5
} else := sprintf("%s (a country of concern, Country Group D:5)", [c])

# ---------------------------------------------------------------------------
# ECCN 4E091: 10^26 or more operations (>=). A model whose export
# classification already says 4E091 is controlled whatever its recorded
# compute, since the counting rules (fine-tuning, synthetic data) can put a
# model over the line that its own training run alone does not.

_flop := f if {
	f := input.model.training_compute_flop
	is_number(f)
}

_over_threshold if _flop >= _cfg.control_threshold_flop

_eccn_4e091 if {
	e := input.model.eccn
	is_string(e)
	upper(trim_space(e)) == _cfg.controlled_eccn
}

_controlled if _over_threshold

_controlled if _eccn_4e091

_not_controlled if {
	_flop < _cfg.control_threshold_flop
	not _eccn_4e091
}

_control_phrase := sprintf("trained with %v operations (ECCN 4E091)", [_flop]) if {
	_over_threshold
} else := "classified ECCN 4E091"

# ---------------------------------------------------------------------------
# Extensions: modules in packages weightgate.extensions.<name> (loaded from
# extra directories) define `deny contains {"code": ..., "reason": ...,
# "basis": ...}`. Every element becomes a denial; a malformed element, or a
# deny that is not a set, still denies (code extension_denied). The first
# denial in sort order of [name, code, reason, basis] is reported.

_extension_denials contains [name, code, reason, basis] if {
	some name, ext in data.weightgate.extensions
	is_set(ext.deny)
	some d in ext.deny
	code := _field(d, "code", "extension_denied")
	reason := _field(d, "reason", sprintf("denied by policy extension %s", [name]))
	basis := _field(d, "basis", sprintf("weightgate policy extension %s", [name]))
}

_extension_denials contains [name, "extension_denied", reason, basis] if {
	some name, ext in data.weightgate.extensions
	d := ext.deny
	not is_set(d)
	reason := sprintf("denied by policy extension %s (its deny rule is not a set)", [name])
	basis := sprintf("weightgate policy extension %s", [name])
}

_field(d, key, fallback) := v if {
	is_object(d)
	v := d[key]
	is_string(v)
	v != ""
} else := fallback

_extension_denial := {"allow": false, "code": first[1], "reason": first[2], "basis": first[3]} if {
	denials := sort(_extension_denials)
	first := denials[0]
}
