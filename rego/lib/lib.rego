# METADATA
# title: weightgate policy library
# description: >-
#   Helpers every weightgate bundle shares: input normalisation, the export
#   destinations of a request (location plus deemed exports), registry
#   lookups, and how organisation extensions narrow a bundle's answer. The
#   engine loads this package with every bundle; a bundle may not define
#   package weightgate.lib itself. Documented in docs/policies.md.
package weightgate.lib

# ---------------------------------------------------------------------------
# Extensions: modules in packages weightgate.extensions.<name> (loaded from
# the configured extension directories) define `deny contains {"code": ...,
# "reason": ..., "basis": ...}`. Every element becomes a denial; a malformed
# element, or a deny that is not a set, still denies (code extension_denied).
# The first denial in sort order of [name, code, reason, basis] is reported.

# with_extensions(base) is a bundle's final decision: an extension denial
# overrides an allow of the base table; a base denial is reported as is,
# because its code carries the more fundamental reason (authentication,
# embargo, ...). Extensions can therefore only narrow what a bundle allows.
with_extensions(base) := _extension_denial if {
	base.allow == true
	_extension_denial
} else := base

_extension_denials contains [name, code, reason, basis] if {
	some name, ext in data.weightgate.extensions
	is_set(ext.deny)
	some d in ext.deny
	code := field(d, "code", "extension_denied")
	reason := field(d, "reason", sprintf("denied by policy extension %s", [name]))
	basis := field(d, "basis", sprintf("weightgate policy extension %s", [name]))
}

_extension_denials contains [name, "extension_denied", reason, basis] if {
	some name, ext in data.weightgate.extensions
	d := ext.deny
	not is_set(d)
	reason := sprintf("denied by policy extension %s (its deny rule is not a set)", [name])
	basis := sprintf("weightgate policy extension %s", [name])
}

# field(d, key, fallback): d[key] when d is an object and that is a
# non-empty string, else fallback.
field(d, key, fallback) := v if {
	is_object(d)
	v := d[key]
	is_string(v)
	v != ""
} else := fallback

_extension_denial := {"allow": false, "code": first[1], "reason": first[2], "basis": first[3]} if {
	denials := sort(_extension_denials)
	first := denials[0]
}

# ---------------------------------------------------------------------------
# Decisions.

allow(code, reason, basis) := {"allow": true, "code": code, "reason": reason, "basis": basis}

deny(code, reason, basis) := {"allow": false, "code": code, "reason": reason, "basis": basis}

# ---------------------------------------------------------------------------
# The request, normalised.

anonymous if input.subject.anonymous == true

classified if input.model.classified == true

open_weights if {
	classified
	input.model.weights == "open"
}

closed_weights if {
	classified
	input.model.weights == "closed"
}

model_name := m if {
	m := input.model.id
	is_string(m)
	m != ""
} else := "this model"

file_name := p if {
	p := input.object.path
	is_string(p)
	p != ""
} else := "this file"

# code(path) is the upper-cased country code at path in input: "" when
# absent, and "?" (never a valid code) when present but not a string.
code(path) := upper(trim_space(v)) if {
	v := object.get(input, path, "")
	is_string(v)
} else := "?"

# valid_code(c): c is a destination code: an ISO 3166-1 alpha-2 country code
# ("UA") or an ISO 3166-2 subdivision code ("UA-43"), as identity normalises
# them. Regions such as Crimea are embargoed apart from their country
# (15 CFR 746.6), so a subdivision is a destination of its own.
valid_code(c) if regex.match(`^[A-Z]{2}(-[A-Z0-9]{1,3})?$`, c)

# country_of(c): the country of destination code c: "UA" for "UA-43", c
# itself for a country code.
country_of(c) := substring(c, 0, 2) if {
	regex.match(`^[A-Z]{2}-[A-Z0-9]{1,3}$`, c)
} else := c

# Where the requester is: the export destination.
country := code(["subject", "country"])

# Where the requester's entity and its ultimate parent are headquartered. A
# missing or empty headquarters counts as the requester's own country: a
# natural person, or an entity that declares none, is judged by location.
hq := h if {
	h := code(["subject", "entity", "hq"])
	h != ""
} else := country

parent_hq := h if {
	h := code(["subject", "entity", "parent_hq"])
	h != ""
} else := country

entity_id := id if {
	id := input.subject.entity.id
	is_string(id)
	id != ""
}

# The request date, YYYY-MM-DD (UTC), from request.time; undefined when the
# time is missing or malformed, so that nothing dated can match.
today := substring(t, 0, 10) if {
	t := input.request.time
	is_string(t)
	time.parse_rfc3339_ns(t)
	endswith(t, "Z")
}

# valid_on(entry, day): entry's optional valid_from / valid_until dates
# (YYYY-MM-DD, both inclusive) contain day. A malformed date never matches.
valid_on(entry, day) if {
	date(object.get(entry, "valid_from", "0000-01-01"))
	date(object.get(entry, "valid_until", "9999-12-31"))
	object.get(entry, "valid_from", "0000-01-01") <= day
	day <= object.get(entry, "valid_until", "9999-12-31")
}

# date(d): d is a YYYY-MM-DD string, as registries write dates.
date(d) if {
	is_string(d)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, d)
}

# ---------------------------------------------------------------------------
# Export destinations: where the requester is, plus, for a foreign person, the
# countries a release to them is deemed an export to.
#
# Reference (/work/shared/reference/ai-diffusion-rule.md, §5 and §3):
#   - releasing controlled technology to a foreign person inside the United
#     States is an export to that person's country of citizenship or
#     permanent residence (deemed export); U.S. citizens, green-card holders
#     and protected individuals are not foreign persons;
#   - permanent regular employees of companies headquartered in Supplement
#     No. 5 countries (or whose parent is) are exempt from deemed-export
#     licensing for covered AI technology (Skadden; regulatory paragraph
#     UNCONFIRMED).
# The exact rule for dual nationals is UNCONFIRMED, so the conservative
# reading is used: every foreign nationality and permanent residence counts,
# the most restrictive outcome wins, and the same test applies wherever the
# requester is located (a release abroad to a third-country national is a
# deemed reexport).

# nationalities: the requester's nationalities and permanent residences,
# upper-cased, in order and without duplicates. A malformed entry stays in
# the list (and is then an unknown destination) rather than disappearing.
nationalities := [c |
	some i, c in _homes
	not c in array.slice(_homes, 0, i)
]

_homes := array.concat(
	[_home_code(v) | some v in _list(["subject", "nationality"])],
	[_home_code(v) | some v in _list(["subject", "permanent_residence"])],
)

_home_code(v) := upper(trim_space(v)) if is_string(v) else := "?"

_home_countries contains c if some c in _homes

# is_nationality(c): the deemed-export destination c is one of the
# requester's nationalities (else it is a permanent residence), so that a
# reason can say which.
is_nationality(c) if {
	some v in _list(["subject", "nationality"])
	_home_code(v) == c
}

_list(path) := l if {
	l := object.get(input, path, [])
	is_array(l)
} else := [] if {
	object.get(input, path, null) == null
} else := ["?"]

# us_person(us): located in the United States (us lists the codes that are
# the United States: the states and its territories, 15 CFR 772.1) and a
# U.S. person: a U.S. national or permanent resident, by a nationality or
# permanent_residence claim naming one of us, or by the explicit us_person
# claim (citizens, green-card holders and protected individuals are not
# foreign persons, ref §5). No deemed export at all.
us_person(us) if {
	_in_places(country, us)
	_us_home(us)
}

_us_home(us) if {
	some c in _home_countries
	_in_places(c, us)
}

_us_home(_) if input.subject.us_person == true

# _in_places(c, places): destination c, or its country (for a subdivision),
# is one of places.
_in_places(c, places) if c in places

_in_places(c, places) if country_of(c) in places

# nationality_known: the token says who the requester is for deemed
# exports: a nationality or permanent residence, or the explicit us_person
# claim. Without one, a release cannot be assumed not to be a deemed export.
nationality_known if count(_homes) > 0

nationality_known if input.subject.us_person == true

# parent_hq_known: the token names the ultimate parent's headquarters (the
# entity's own when it has no parent), rather than it being taken to be the
# requester's location.
parent_hq_known if code(["subject", "entity", "parent_hq"]) != ""

# employee_carve_out(tier1): a permanent regular employee (the verified
# `employee` claim) of an entity that, with its ultimate parent, is
# headquartered in tier1.
employee_carve_out(tier1) if {
	input.subject.employee == true
	entity_id
	hq in tier1
	parent_hq in tier1
}

# destinations(places) is the list of [role, country] a release is an export
# to: ["location", country] first, then ["nationality", c] for each home
# country other than the location. places is an object:
#   tier1: where the employee carve-out's entity must be headquartered;
#   united_states: the codes that are the United States (15 CFR 772.1);
#   never_carved: home countries the employee carve-out never lifts.
# A U.S. person in the United States exports nothing by deemed export. The
# employee carve-out lifts only the AI rule's own deemed-export licence
# requirement (ref §3): a home country in never_carved (comprehensive
# embargoes, 15 CFR part 746, and whatever else the bundle lists) stays a
# destination. A U.S. nationality or permanent residence is never a deemed
# destination: a release to a U.S. person is not an export to the United
# States (§5: U.S. citizens and green-card holders are not foreign persons).
destinations(places) := array.concat([["location", country]], deemed) if {
	not us_person(places.united_states)
	not employee_carve_out(places.tier1)
	deemed := [["nationality", c] | some c in nationalities; c != country; not _in_places(c, places.united_states)]
} else := array.concat([["location", country]], deemed) if {
	not us_person(places.united_states)
	deemed := [["nationality", c] |
		some c in nationalities
		c != country
		not _in_places(c, places.united_states)
		_in_places(c, places.never_carved)
	]
} else := [["location", country]]

# ---------------------------------------------------------------------------
# Registries: operator data under data.weightgate.registry.<name>, one JSON
# file per registry (licences.json, veu.json, attestations.json,
# restricted_parties.json). A missing registry is empty; a registry that is
# not a list is an error that makes the decision undefined (policy_error).

registry(name) := r if {
	r := data.weightgate.registry[name]
	is_array(r)
} else := [] if {
	not _has_registry(name)
}

# (Reading data.weightgate as a whole from here would be recursive: this
# package is part of it.)
_has_registry(name) if {
	_ = data.weightgate.registry[name]
}

# entries(name): the registry's entries for the requester's entity id, valid
# on the request date; undefined, like registry(name), when the registry is
# not a list. (restricted_party cannot tell a malformed registry from no hit:
# a bundle relying on it checks is_array(registry("restricted_parties")).)
entries(name) := [e |
	some e in r
	is_object(e)
	e.entity_id == entity_id
	valid_on(e, today)
] if {
	r := registry(name)
}

# restricted_party: the first entry of the restricted_parties registry that
# names the requester's entity id, or the requester's own id (a screening
# hit). Restricted-party screening proper is its own component; this registry
# is the operator's own list (entity_id or subject_id, list, reason).
restricted_party := e if {
	hits := [x |
		some x in registry("restricted_parties")
		is_object(x)
		_screened(x)
	]
	e := hits[0]
}

_screened(x) if x.entity_id == entity_id

_screened(x) if {
	id := input.subject.id
	is_string(id)
	id != ""
	x.subject_id == id
}

# ---------------------------------------------------------------------------
# Settings: operator switches from the gateway's configuration, loaded at
# data.weightgate.settings.<name> (location.unknown → location_unknown,
# screening.open_weights → screening_open_weights). setting(name, fallback)
# is the configured string, or fallback when none is configured.

setting(name, fallback) := v if {
	v := data.weightgate.settings[name]
	is_string(v)
} else := fallback

# ---------------------------------------------------------------------------
# Restricted-party screening: input.subject.screening, filled by the
# gateway's screening of the subject's name and id and its entity's name and
# id against the configured lists (the Consolidated Screening List and the
# operator's own). Status "off" means no list is configured (an input without
# the object or with an empty or null status, such as an audit record written
# before screening existed, counts as off); "clear" means nothing came close. Any status other than
# off, clear or hit (a typo in a hand-written input, a future status) is
# read as "review": it never passes as clear.

screening_status := "off" if {
	object.get(input, ["subject", "screening", "status"], "") in {"", null}
} else := s if {
	s := input.subject.screening.status
	is_string(s)
} else := "invalid"

screening_hit if screening_status == "hit"

screening_review if not screening_status in {"off", "clear", "hit"}

# screening_flagged: a hit or a near miss, the cases screening_denial is
# defined for. A bundle checks it before building the argument of
# screening_denial, which is then built only when needed.
screening_flagged if not screening_status in {"off", "clear"}

# screening_denial(what): the denial for a screening hit or near miss; what
# names what is refused ("the weights of acme/m"). Undefined when the
# screening is off or clear.
screening_denial(what) := deny(
	"restricted_party",
	sprintf("%s cannot be released: %s matches %s on the %s (entry %s, match score %s)", [what, _screened_field, _screening_str("name", "a listed party"), _screening_list, _screening_str("entry", "unknown"), _score]),
	sprintf("restricted-party screening against the %s: parties on the lists of the Consolidated Screening List face license requirements and a policy of denial (Commerce lists, 15 CFR part 744) or blocking sanctions (Treasury lists, 31 CFR chapter V); https://www.trade.gov/consolidated-screening-list", [_screening_list]),
) if {
	screening_hit
} else := deny(
	"screening_review",
	sprintf("%s cannot be released until export compliance has reviewed a possible restricted-party match: %s resembles %s on the %s (entry %s, match score %s, below the hit threshold)", [what, _screened_field, _screening_str("name", "a listed party"), _screening_list, _screening_str("entry", "unknown"), _score]),
	sprintf("restricted-party screening against the %s: a near match must be resolved before release (a CSL match calls for further due diligence, and a non-match is no safe harbour)", [_screening_list]),
) if {
	screening_review
}

# screening_applies_to_open: the operator's configuration screens downloads
# of open weights too (screening.open_weights: deny). By default published
# weights go to anyone: they are not subject to the EAR (15 CFR 734.7(a)).
screening_applies_to_open if setting("screening_open_weights", "allow") == "deny"

_screening_str(key, fallback) := field(object.get(input, ["subject", "screening"], {}), key, fallback)

_screening_list := _screening_str("list", "restricted-party list")

_field_phrases := {
	"entity.name": "the name of your entity",
	"entity.id": "the id of your entity",
	"subject.name": "your name",
	"subject.id": "your id",
}

_screened_field := p if {
	p := _field_phrases[_screening_str("field", "")]
} else := "a party to this request"

# The score with two decimals (sprintf's %f would print an integral score,
# such as an id hit's 1, as "%!f(int=1)").
_score := sprintf("%d.%02d", [floor(p / 100), p % 100]) if {
	s := input.subject.screening.score
	is_number(s)
	s >= 0
	p := round(s * 100)
} else := "unknown"

# ---------------------------------------------------------------------------
# Location cross-check: where the client address is, by the gateway's country
# database (input.request.ip_country, "" when unknown: no database, a private
# or loopback address, an address the database does not know), checked
# against the country the token claims.

ip_country := code(["request", "ip_country"])

ip_known if valid_code(ip_country)

# ip_trusted: the address is in a configured corporate or VPN network, whose
# egress country says nothing about where the requester is.
ip_trusted if input.request.ip_trusted_network == true

# client_ip: the client address, for reasons. Read by its path, not through
# the whole request, so that the decision cache's key leaves out what the
# policy does not read (the client's port, the method, the range).
client_ip := v if {
	v := object.get(input, ["request", "client_ip"], "")
	is_string(v)
	v != ""
} else := "unknown"

# location_denial(what): for a release that depends on where the requester
# is, the denial when the address cannot vouch for the token's country: the
# address's country is unknown and the configuration says unknown is denied
# (location.unknown: deny), or it differs from the token's. Undefined when the
# address is in a trusted network, matches the token, or is unknown and
# unknown is allowed (the default).
location_denial(what) := deny(
	"location_unknown",
	sprintf("%s cannot be released: the country of your address (%s) cannot be determined, and this gateway releases it only where your location is confirmed", [what, client_ip]),
	"the export destination is where the requester receives the weights; this gateway's configuration (location.unknown: deny) requires the client address to confirm it",
) if {
	not ip_known
	not ip_trusted
	setting("location_unknown", "allow") == "deny"
} else := deny(
	"location_mismatch",
	sprintf("%s cannot be released: your token says you are in %s, but your address (%s) is in %s", [what, country, client_ip, ip_country]),
	"the export destination is where the requester receives the weights: the token's country must agree with the country of the client address outside trusted networks",
) if {
	ip_known
	not ip_trusted

	# Compared country to country: a database that knows the subdivision
	# ("UA-43") agrees with a token that names only the country ("UA"); a
	# subdivision's own embargo is the bundle's check.
	country_of(ip_country) != country_of(country)
}
