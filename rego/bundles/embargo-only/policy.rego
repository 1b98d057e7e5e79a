# METADATA
# title: weightgate embargo-only policy
# description: >-
#   Releases model-weight files as BIS has administered the EAR since it
#   announced on 13 May 2025 that it would rescind the Framework for Artificial
#   Intelligence Diffusion and not enforce it: the rule's ECCN 4E091 license
#   requirements are not applied; comprehensive embargoes and restricted-party
#   screening still are. The rule's text is still codified in the EAR, so this
#   bundle is an operator's policy choice, not the default (ai-diffusion-2025).
#   Input, output and data are documented in docs/policies.md and in this
#   bundle's README.md.
package weightgate

import data.weightgate.lib

# Sources (reference notes: /work/shared/reference/ai-diffusion-rule.md, §4;
# the URLs are also in data.weightgate.bundle.sources):
#
#   - 13 May 2025: BIS announces that it will rescind the AI Diffusion rule
#     (interim final rule, FR doc. 2025-00636, 90 FR 4544, RIN 0694-AJ90) and
#     will not enforce it, and issues guidance on PRC advanced ICs, on training
#     AI models for D:5- or Macau-headquartered parties, and on chip diversion:
#     https://alstontrade.com/commerce-rescinds-ai-diffusion-rule-releases-other-guidance-involving-overseas-ai-chips
#     https://www.akingump.com/en/insights/alerts/bis-rescinds-its-ai-diffusion-rule-and-issues-compliance-guidance-regarding-advanced-computing-items
#     https://www.tradecomplianceresourcehub.com/
#   - May-Jul 2025: no rescission notice in the Federal Register; the EAR text
#     is unchanged, but 4E091 "has effectively been removed" in practice:
#     https://sanctionsnews.bakermckenzie.com/bis-begins-rescinding-ai-diffusion-rule-and-issues-guidance-on-huawei-ics-and-on-ics-and-commodities-used-to-train-ai-models
#   - 12 May 2026: GAO decision B-337935, the non-enforcement announcement is
#     itself a "rule" under the Congressional Review Act; 28 May 2026,
#     Pillsbury: the rule "remains legally in effect". Hence this bundle is a
#     choice, and the default bundle follows the codified text:
#     https://www.gao.gov/products/b-337935
#     https://www.pillsburylaw.com/en/news-and-insights/gao-commerce-non-enforcement-ai-diffusion-rule-congressional-review-act.html
#   - What still applies: comprehensive embargoes, 15 CFR part 746 (Country
#     Groups E:1/E:2, Supplement No. 1 to part 740), and OFAC sanctions, a
#     separate legal regime; Entity List and other restricted-party lists
#     (reference notes, "Policy-relevant summary" and "Screening entities"):
#     https://www.fenwick.com/insights/publications/regulatory-impact-of-arms-embargo-country-designations
#     https://www.trade.gov/consolidated-screening-list
#   - Published (open) weights are not subject to the EAR, 15 CFR 734.7(a).
#     OFAC sanctions may still reach them (reference notes, "Published weights
#     and sanctions"); like the default bundle, this one leaves open models to
#     everyone, and an operator who wants more can add an extension.
#   - Deemed exports (reference notes §5): a release to a foreign person is an
#     export to each country of their nationality or permanent residence;
#     lib.destinations applies this, with the Tier-1 employee carve-out of the
#     default bundle (its regulatory paragraph is UNCONFIRMED, reference §3).
#     The carve-out is kept so that the two built-in bundles judge the same
#     destinations; only the embargo list decides on them here.

_cfg := data.weightgate.embargo

# METADATA
# title: destination_group
# description: >-
#   The group this bundle puts destination c (an ISO 3166-1 or 3166-2 code)
#   in: "embargoed" (comprehensive embargoes and embargoed regions),
#   "russia_belarus" (15 CFR 746.8) or "other". Not part of any decision: it
#   is for reports that group destinations (the console's refusals by
#   destination), so that they group them as this bundle's data does.
destination_group(c) := "embargoed" if {
	_embargoed(c)
} else := "russia_belarus" if {
	lib.country_of(c) in _cfg.russia_belarus
} else := "other"

# The BIS announcement, as every closed-weights allow cites it.
_announcement := "BIS's announcement of 13 May 2025 (https://alstontrade.com/commerce-rescinds-ai-diffusion-rule-releases-other-guidance-involving-overseas-ai-chips; https://www.akingump.com/en/insights/alerts/bis-rescinds-its-ai-diffusion-rule-and-issues-compliance-guidance-regarding-advanced-computing-items)"

# METADATA
# title: decision
# description: >-
#   The answer for one download: {"allow": bool, "code": string,
#   "reason": string, "basis": string, "visible": bool}. Defined for every well-formed input;
#   undefined (a policy_error in the gateway) for malformed input such as an
#   unknown object.kind or a classified model whose weights are neither
#   "open" nor "closed", and when this bundle's data or the restricted_parties
#   registry is malformed.
#
#   Extension denials (data.weightgate.extensions.<name>.deny) override an
#   allow of the base table; a base denial is reported as is.
# entrypoint: true
decision := object.union(lib.with_extensions(_base), {"visible": visible})

# METADATA
# title: visible
# description: >-
#   Whether the requester may know that the model exists. The gateway answers
#   a denied request for a model that is not open-weight, when visible is
#   false, exactly as for a model that does not exist, on every endpoint.
#   Open-weight models are visible to everyone; a closed or unclassified
#   model is hidden from anonymous requesters, restricted parties (the
#   operator's registry or a screening hit), requesters whose destination
#   cannot be determined, and embargoed destinations (location, deemed
#   export, headquarters, parent or client address); see _hidden. Everyone
#   else sees it and is told why a download is refused.
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
# requester a closed or unclassified model is hidden from; the first reason
# that applies is reported. Broken data hides too.
_hidden(what) := lib.deny(
	"policy_error",
	sprintf("%s cannot be released: this policy's data or the restricted_parties registry is malformed", [what]),
	"weightgate fails closed when its policy cannot decide",
) if {
	not _data_ok
} else := lib.deny(
	"restricted_party",
	sprintf("%s cannot be released: %s on the operator's restricted-party list%s", [what, _listed_who(e), _listed_detail(e)]),
	"restricted-party screening, which the 13 May 2025 announcement left in place: Entity List and the other lists of the Consolidated Screening List (https://www.trade.gov/consolidated-screening-list), OFAC SDN List; the operator's restricted_parties registry",
) if {
	e := lib.restricted_party
} else := d if {
	lib.screening_hit
	d := lib.screening_denial(what)
} else := lib.deny(
	"unknown_destination",
	sprintf("%s cannot be released: %s, so it cannot be checked against U.S. embargoes", [what, _destination_problem]),
	"comprehensive embargoes depend on the destination and on the requester's headquarters: 15 CFR part 746; OFAC sanctions",
) if {
	_destination_problem
} else := lib.deny(
	"embargoed_destination",
	sprintf("%s cannot be released %s: %s is under a comprehensive U.S. embargo", [what, _to(p[0], p[1]), _country_label(p[1])]),
	"comprehensive embargo: 15 CFR part 746 (Country Groups E:1/E:2, Supplement No. 1 to part 740) and OFAC sanctions",
) if {
	p := _embargoed_parties[0]
} else := lib.deny(
	"ip_country_of_concern",
	sprintf("%s cannot be released: your address (%s) is in %s, which is under a comprehensive U.S. embargo, whatever your token says", [what, lib.client_ip, _country_label(lib.ip_country)]),
	"comprehensive embargo, applied to where the files are received (the client address): 15 CFR part 746 and OFAC sanctions",
) if {
	_embargoed(lib.ip_country)
}

# What a closed model's other files (config, tokenizer, README) are, for
# their denial to a requester the model is hidden from: not weights, but
# they name and describe a model this requester may not know of.
_files_of := sprintf("the files of %s", [lib.model_name])

# The decision table. The first matching row wins.
_base := d if {
	# Open weights are screened only when the operator says so
	# (screening.open_weights: deny).
	lib.open_weights
	input.object.kind == "weights"
	lib.screening_applies_to_open
	lib.screening_flagged
	d := lib.screening_denial(_weights_of)
} else := lib.allow(
	"open_weights",
	sprintf("%s is an open-weight (published) model: its files may be downloaded by anyone", [lib.model_name]),
	"published weights are not subject to the EAR, 15 CFR 734.7(a); this policy restricts closed-weight models only",
) if {
	lib.open_weights
} else := lib.deny(
	"authentication_required",
	sprintf("sign in to download files of %s: it is not an open-weight model, so the policy must know who you are and where you are to apply U.S. embargoes", [lib.model_name]),
	"comprehensive embargoes depend on the destination and on the requester's headquarters: 15 CFR part 746; OFAC sanctions",
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
	sprintf("%s is not a weights file: only the weights (parameters) of %s are restricted, so its other files may be downloaded", [lib.file_name, lib.model_name]),
	"model weights are the 'parameters' learned in training (ECCN 4E091 Technical Note 1, Supplement No. 1 to part 774); like the default policy, this policy restricts only weights files",
) if {
	lib.closed_weights
	input.object.kind == "other"
} else := lib.deny(
	"restricted_party",
	sprintf("the weights of %s cannot be released: %s on the operator's restricted-party list%s", [lib.model_name, _listed_who(e), _listed_detail(e)]),
	"restricted-party screening, which the 13 May 2025 announcement left in place: Entity List and the other lists of the Consolidated Screening List (https://www.trade.gov/consolidated-screening-list), OFAC SDN List; the operator's restricted_parties registry",
) if {
	_closed_weights
	e := lib.restricted_party
} else := d if {
	_closed_weights
	lib.screening_flagged
	d := lib.screening_denial(_weights_of)
} else := lib.deny(
	"unknown_destination",
	sprintf("the weights of %s cannot be released: %s, so it cannot be checked against U.S. embargoes", [lib.model_name, _destination_problem]),
	"comprehensive embargoes depend on the destination and on the requester's headquarters: 15 CFR part 746; OFAC sanctions",
) if {
	_closed_weights
	_destination_problem
} else := lib.deny(
	"embargoed_destination",
	sprintf("the weights of %s cannot be released %s: %s is under a comprehensive U.S. embargo", [lib.model_name, _to(p[0], p[1]), _country_label(p[1])]),
	"comprehensive embargo, in force whatever the status of the AI Diffusion rule: 15 CFR part 746 (Country Groups E:1/E:2, Supplement No. 1 to part 740) and OFAC sanctions",
) if {
	_closed_weights
	p := _embargoed_parties[0]
} else := lib.deny(
	"ip_country_of_concern",
	sprintf("the weights of %s cannot be released: your address (%s) is in %s, which is under a comprehensive U.S. embargo, whatever your token says", [lib.model_name, lib.client_ip, _country_label(lib.ip_country)]),
	"comprehensive embargo, applied to where the weights are received (the client address): 15 CFR part 746 (Country Groups E:1/E:2, Supplement No. 1 to part 740) and OFAC sanctions",
) if {
	_closed_weights
	_embargoed(lib.ip_country)
} else := lib.deny(
	"license_required",
	sprintf("the weights of %s cannot be released %s: they are classified %s, and every item on the Commerce Control List needs a license from BIS to %s, reviewed under a policy of denial", [lib.model_name, _to(p[0], p[1]), _eccn, _country_label(lib.country_of(p[1]))]),
	"Russia and Belarus: license required for all items on the Commerce Control List, 15 CFR 746.8(a)(1); policy of denial, 746.8(b); in force whatever the status of the AI Diffusion rule",
) if {
	_closed_weights
	_eccn
	p := _russia_belarus_parties[0]
} else := d if {
	_closed_weights
	d := lib.location_denial(_weights_of)
} else := lib.allow(
	"not_enforced",
	sprintf("the weights of %s may be released to %s: the AI Diffusion rule's license requirements for closed model weights (ECCN 4E091) are not enforced since BIS's announcement of 13 May 2025, and no comprehensive U.S. embargo applies", [lib.model_name, _who]),
	sprintf("ECCN 4E091 license requirements of the Framework for Artificial Intelligence Diffusion (90 FR 4544, RIN 0694-AJ90; 15 CFR 742.6(a)(13)) not enforced since %s; comprehensive embargoes (15 CFR part 746; OFAC sanctions) and restricted-party screening still apply", [_announcement]),
) if {
	_closed_weights
}

# What a denial of closed weights refuses, for lib.screening_denial and
# lib.location_denial.
_weights_of := sprintf("the weights of %s", [lib.model_name])

# ---------------------------------------------------------------------------
# The request.

_closed_weights if {
	lib.closed_weights
	input.object.kind == "weights"
	_data_ok
}

# The lists every closed-weights row relies on. Should one be missing or
# mistyped (a custom bundle, a bad edit, a restricted_parties registry that is
# not a list), no such row matches, the decision is undefined and the gateway
# denies with policy_error, rather than an embargo check silently passing.
_data_ok if {
	_code_list(_cfg.comprehensively_embargoed)
	_code_list(_cfg.tier1_including_us)
	_code_list(_cfg.embargoed_regions)
	_code_list(_cfg.russia_belarus)
	_code_list(_cfg.united_states)
	is_object(object.get(_cfg, "country_names", {}))
	is_array(lib.registry("restricted_parties"))
}

# A list of upper-case ISO 3166-1 alpha-2 codes: a lower-case "ir" would
# never match and must not pass.
_code_list(l) if {
	is_array(l)
	every c in l {
		is_string(c)
		lib.valid_code(c)
	}
}

# Where a release goes: the location, then each country a release to the
# requester is deemed an export to (lib.destinations), then the headquarters
# of the requester's entity and of its ultimate parent.
_destinations := lib.destinations({
	"tier1": _cfg.tier1_including_us,
	"united_states": _cfg.united_states,
	"never_carved": array.concat(array.concat(_cfg.comprehensively_embargoed, _cfg.embargoed_regions), _cfg.russia_belarus),
})

_parties := array.concat(_destinations, [["hq", lib.hq], ["parent_hq", lib.parent_hq]])

_destination_problem := "your location (country) is missing or is not an ISO 3166 country or subdivision code" if {
	not lib.valid_code(lib.country)
} else := "one of your nationalities or permanent residences is not an ISO 3166 country or subdivision code" if {
	some d in _destinations
	not lib.valid_code(d[1])
} else := "the headquarters country of your entity is not an ISO 3166 country or subdivision code" if {
	not lib.valid_code(lib.hq)
} else := "the headquarters country of your entity's ultimate parent is not an ISO 3166 country or subdivision code" if {
	not lib.valid_code(lib.parent_hq)
}

_embargoed_parties := [p | some p in _parties; _embargoed(p[1])]

# Embargoed: a comprehensively embargoed country or an embargoed region
# (Crimea, UA-43), by its ISO 3166-2 code; a subdivision of an embargoed
# country is embargoed with it.
_embargoed(c) if c in _cfg.comprehensively_embargoed

_embargoed(c) if c in _cfg.embargoed_regions

_embargoed(c) if lib.country_of(c) in _cfg.comprehensively_embargoed

# Russia and Belarus (15 CFR 746.8): the parties in them, then the client
# address.
_russia_belarus_parties := [p |
	some p in array.concat(_parties, [["address", lib.ip_country]])
	lib.country_of(p[1]) in _cfg.russia_belarus
]

# _eccn: the model's ECCN when its classification names one on the Commerce
# Control List (anything but EAR99).
_eccn := e if {
	v := input.model.eccn
	is_string(v)
	e := upper(trim_space(v))
	e != ""
	e != "EAR99"
}

_to("location", c) := sprintf("to %s, where you are", [c])

_to("nationality", c) := sprintf("as a deemed export to %s, a country of your nationality", [c]) if {
	lib.is_nationality(c)
} else := sprintf("as a deemed export to %s, a country of your permanent residence", [c])

_to("hq", c) := sprintf("to an entity headquartered in %s", [c])

_to("address", c) := sprintf("to your address (%s) in %s", [lib.client_ip, c])

_to("parent_hq", c) := sprintf("to an entity whose ultimate parent is headquartered in %s", [c])

_country_label(c) := sprintf("%s (%s)", [name, c]) if {
	name := _cfg.country_names[c]
	is_string(name)
} else := c

# Who a closed-weights allow releases to, for its reason.
_who := sprintf("a requester in %s", [lib.country]) if {
	not lib.entity_id
} else := sprintf("a requester in %s acting for %s, headquartered in %s", [lib.country, lib.entity_id, lib.hq]) if {
	lib.hq == lib.parent_hq
} else := sprintf("a requester in %s acting for %s, headquartered in %s with its ultimate parent in %s", [lib.country, lib.entity_id, lib.hq, lib.parent_hq])

# A restricted_parties entry (entity_id or subject_id, name, list, reason).
_listed_who(e) := sprintf("your entity %s is", [lib.entity_id]) if {
	e.entity_id == lib.entity_id
} else := "you are"

_listed_detail(e) := sprintf(" (%s)", [concat(": ", parts)]) if {
	parts := [v |
		some k in ["list", "reason"]
		v := object.get(e, k, "")
		is_string(v)
		v != ""
	]
	count(parts) > 0
} else := ""
