// Package screening checks names and identifiers against restricted-party
// lists: the U.S. Government's Consolidated Screening List (CSL) published by
// trade.gov, and lists an operator keeps in the same layout.
//
// ParseFile reads a list, NewIndex builds an immutable index over one or more
// lists, and Index.Screen answers "is this party listed?" as clear, review or
// hit. Screen is safe for concurrent use and does not allocate on the common
// path, so the gateway can call it on every request.
//
// # List formats
//
// ParseFile chooses the format by the file's extension, .csv or .json (any
// other extension is an error). Every entry records the list name it was
// loaded under in Entry.List.
//
// CSV is the layout of trade.gov's consolidated.csv:
//
//	_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date,end_date,standard_order,license_requirement,license_policy,call_sign,vessel_type,gross_tonnage,gross_registered_tonnage,vessel_flag,vessel_owner,remarks,source_list_url,alt_names,citizenships,dates_of_birth,nationalities,places_of_birth,source_information_url,ids
//
// Columns are found by name in the header row (compared case-insensitively
// after trimming), so their order may change and unknown columns are
// ignored; the name column is required. Cells may hold quoted commas and
// newlines; stray quotes are tolerated, but every row must have as many
// fields as the header (a file cut short mid-row is an error, never a
// shorter list), and a leading UTF-8 byte order mark and a trailing "\x1a"
// line (as the published file has) are ignored. Multi-valued cells (programs,
// addresses, alt_names, citizenships, nationalities, ids) separate their
// values with "; ". An address is "street, city, state, postal_code,
// COUNTRY": the last comma-separated part is the country (an ISO 3166-1
// alpha-2 code in the published file), the three before it are the postal
// code, state and city, and anything before those is the street, which may
// itself contain commas. An identifier is "type, number, country,
// issue_date, expiration_date", where any part may be empty and the number
// is the second part.
//
// JSON is the layout of trade.gov's consolidated.json and of its search
// API: either an object whose "results" member is the array of entries
// (other members are ignored) or a bare array of entries. An entry is an
// object with the keys id, source, entity_number, type, programs[], name,
// title, addresses[{address, city, state, postal_code, country}],
// federal_register_notice, start_date, end_date, remarks, source_list_url,
// alt_names[], citizenships[], dates_of_birth[], nationalities[],
// places_of_birth[], source_information_url and
// ids[{type, number, country, issue_date, expiration_date}]. Unknown keys
// are ignored; scalar values may be strings, numbers or null.
//
// Entry.Countries collects, without duplicates and in order of appearance,
// the countries of an entry's addresses and identifiers, its citizenships
// and its nationalities.
//
// A malformed file is an error, never a partial list: bad CSV or JSON, a
// CSV file without a name column, or an entry that has neither a name nor
// an identifier number. The error is a *ParseError naming the file and the
// line (CSV, and JSON syntax errors) or the entry's index (JSON).
//
// # Matching names
//
// Names are compared as multisets of tokens; Normalize returns the tokens of
// a name. To normalise a name:
//
//  1. Apply Unicode NFKD and drop combining marks (so é becomes e and ü
//     becomes u); map ß to ss, ø to o, æ to ae, œ to oe, đ and ð to d, ł to
//     l, þ to th, ħ to h and dotless ı to i; lower-case.
//  2. Remove apostrophes (' ` ’ ‘ ʼ ′) without splitting the word, so O'Neil
//     becomes oneil; replace "&" with the word "and"; every other character
//     that is not a letter or a digit separates tokens.
//  3. Join runs of two or more consecutive single-letter tokens into one
//     token, so "S.A." becomes sa and "S.A.R.L." becomes sarl.
//  4. Stem plurals of tokens longer than three letters: a final "ies"
//     becomes "y" (technologies → technology), and a final "s" not preceded
//     by another "s" is dropped (holdings → holding; glass is unchanged).
//  5. Drop the stop words the, of and and, and the legal-form words ab, ag,
//     ao, as, bhd, bv, cjsc, co, company, corp, corporation, cv, fze, fzco,
//     fzllc, gmbh, inc, incorporated, jsc, kft, kg, kk, llc, llp, lp, ltd,
//     ltda, limited, nv, oao, ojsc, ooo, oy, pao, pjsc, plc, pte, pty, pvt,
//     sa, sarl, sas, sdn, sl, spa, sro, srl and zao; "group" is kept. If that
//     would leave no token, none is dropped.
//
// Two tokens a and b of rune lengths la and lb are similar when their
// Levenshtein distance d (in runes) is within the allowance for the longer
// one: 0 edits up to 3 runes, 1 edit for 4 to 7 runes, 2 edits from 8 runes.
// Their similarity is then sim(a,b) = 1 - d/max(la,lb), and 0 otherwise.
//
// The score of a query name Q against a list name N pairs query tokens with
// list tokens one-to-one, greedily by descending similarity (ties broken by
// token position, query first), and is
//
//	Σ sim(a,b)·(la+lb) over the pairs / (Σ la over Q + Σ lb over N)
//
// so unpaired tokens on either side lower it. Word order is ignored and
// names with the same tokens score exactly 1. For example, "Shenzhen
// Quantum Dynamics" against "Shenzhen Quantum Dynamics Co., Ltd." scores 1;
// "Quantum Dynamix Shenzen" against it pairs quantum (1), dynamix/dynamic
// (6/7) and shenzen/shenzhen (7/8) and scores 39.125/43 ≈ 0.91.
//
// A query name is matched against every entry's primary name and each of
// its alternate names. Entries of type Vessel or Aircraft are not matched by
// name (their names are ships' and aircraft's, not parties'), only by
// identifier.
//
// # Matching identifiers
//
// Query.EntityID and Query.SubjectID are compared with every identifier
// number of every entry after trimming, removing all whitespace and
// lower-casing both sides. Equal numbers score 1; an empty number matches
// nothing.
//
// # Result
//
// Screen screens EntityName, EntityID, SubjectName and SubjectID (empty
// fields are skipped) and reports the single best match. A score at or
// above Options.HitThreshold (default 0.92) is a hit, at or above
// Options.ReviewThreshold (default 0.80) a review, anything lower is clear.
// On equal scores the field order entity.id, entity.name, subject.id,
// subject.name decides, and within a field the entry that comes first in the
// slice given to NewIndex, then its primary name before its alternates.
//
// When Query.Date (YYYY-MM-DD) is set, entries whose end_date is before it or
// whose start_date is after it are skipped. Dates are compared on their
// first ten characters; an entry date that is not of the form YYYY-MM-DD,
// or a Query.Date that is not, does not filter anything, so a garbled date
// never hides a listed party.
//
// # Index
//
// Screening must not scan the list. NewIndex numbers list names by their
// normalised length (LN, the sum of their tokens' rune lengths) and keeps,
// per vocabulary token, a sorted postings list of the names containing it
// (and a bitmap for tokens in 256 names or more) and the tokens similar to
// it. For query tokens not in the vocabulary it keeps the deletion
// neighbourhood of every vocabulary token (the strings left after deleting
// up to its edit allowance of runes) as a hash table behind a bloom filter:
// two tokens are similar only if their neighbourhoods meet, so a query
// token finds its similar tokens by hashing its own neighbourhood.
//
// Screen turns the score formula into bounds. Since sim(a,b)·(la+lb) ≤
// 2·min(la,lb), a list name can reach the review threshold θ only if its
// length lies within a window around the query's length LQ and the query
// tokens it contains weigh at least θ·(LQ+LN)/2 runes. Screen looks only at
// names in that window. When the rarest query tokens that such a name must
// contain have short postings, it takes candidates from those; otherwise it
// walks the window 64 names at a time, from names as long as the query
// outwards, intersecting the bitmaps of the sets of tokens a name must
// contain all of. Each candidate is then bounded by its best possible
// pairings, and scored only if that bound reaches θ or the best score found
// so far, which, once a match is found, prunes most of the rest.
package screening
