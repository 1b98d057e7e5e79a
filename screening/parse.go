package screening

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Entry is one listed party.
type Entry struct {
	ID           string // the list's record id (_id in CSV, id in JSON)
	Source       string // the list within the CSL, e.g. "Entity List (EL) - Bureau of Industry and Security"
	EntityNumber string
	Type         string // "Entity", "Individual", "Vessel", "Aircraft" or empty
	Name         string
	AltNames     []string
	Programs     []string
	Addresses    []Address
	IDs          []Identifier

	// Countries holds the countries of Addresses and IDs, the citizenships
	// and the nationalities, without duplicates, in order of appearance.
	Countries []string

	StartDate             string
	EndDate               string
	Remarks               string
	SourceListURL         string
	SourceInformationURL  string
	FederalRegisterNotice string

	// List is the name the entry was loaded under (the listName argument
	// of the Parse functions).
	List string
}

// Address is one address of an Entry.
type Address struct {
	Address    string // street
	City       string
	State      string
	PostalCode string
	Country    string
}

// Identifier is one identification document or registration of an Entry.
type Identifier struct {
	Type           string
	Number         string
	Country        string
	IssueDate      string
	ExpirationDate string
}

// ParseError reports a malformed list.
type ParseError struct {
	File  string // the file's path; empty when parsing a reader
	Line  int    // 1-based line, or 0 when unknown
	Entry int    // 0-based entry index (JSON), or -1 when unknown
	Err   error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("screening: parse")
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
	}
	if e.Entry >= 0 {
		fmt.Fprintf(&b, ": entry %d", e.Entry)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// errNoNameNoID is the error for an entry that can match nothing.
var errNoNameNoID = errors.New("entry has neither a name nor an identifier number")

// ParseFile reads the list at path, as CSV or JSON according to its
// extension (.csv or .json, in any case), and labels every entry with
// listName. A malformed file is an error naming the file; it never yields a
// partial list.
func ParseFile(path, listName string) ([]Entry, error) {
	if _, err := parserFor(path); err != nil {
		return nil, err // before opening: a wrong extension is a config error
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("screening: %w", err)
	}
	return ParseBytes(data, path, listName)
}

// ParseBytes is ParseFile for a file already read: data is the content of
// the file at path, whose extension chooses the format and which errors
// name.
func ParseBytes(data []byte, path, listName string) ([]Entry, error) {
	parse, err := parserFor(path)
	if err != nil {
		return nil, err
	}
	entries, err := parse(bytes.NewReader(data), listName)
	if err != nil {
		if pe, ok := errors.AsType[*ParseError](err); ok {
			pe.File = path
			return nil, pe
		}
		return nil, fmt.Errorf("screening: parse %s: %w", path, err)
	}
	return entries, nil
}

func parserFor(path string) (func(io.Reader, string) ([]Entry, error), error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		return ParseCSV, nil
	case ".json":
		return ParseJSON, nil
	default:
		return nil, &ParseError{File: path, Entry: -1, Err: fmt.Errorf("unknown list format %q: want .csv or .json", ext)}
	}
}

// utf8BOM is the byte order mark some exporters put before the header.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseCSV reads a list in the layout of trade.gov's consolidated.csv (see
// the package documentation) and labels every entry with listName.
func ParseCSV(r io.Reader, listName string) ([]Entry, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header, err := cr.Read()
	if err == io.EOF {
		return nil, &ParseError{Line: 1, Entry: -1, Err: errors.New("empty file: no header row")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	if _, ok := col["name"]; !ok {
		return nil, &ParseError{Line: 1, Entry: -1, Err: errors.New(`header has no "name" column`)}
	}

	var entries []Entry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		if blankRecord(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		// Every row of a well-formed export has the header's width. A
		// short row is what a download cut mid-row looks like (with lazy
		// quotes, an unclosed quote swallows the rest of the file into one
		// field), and must not pass as a shorter list.
		if len(rec) != len(header) {
			return nil, &ParseError{Line: line, Entry: -1, Err: fmt.Errorf("row has %d fields, the header %d: a truncated or corrupted file", len(rec), len(header))}
		}
		get := func(name string) string {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		e := Entry{
			ID:                    get("_id"),
			Source:                get("source"),
			EntityNumber:          get("entity_number"),
			Type:                  get("type"),
			Name:                  get("name"),
			AltNames:              splitMulti(get("alt_names")),
			Programs:              splitMulti(get("programs")),
			StartDate:             get("start_date"),
			EndDate:               get("end_date"),
			Remarks:               get("remarks"),
			SourceListURL:         get("source_list_url"),
			SourceInformationURL:  get("source_information_url"),
			FederalRegisterNotice: get("federal_register_notice"),
			List:                  listName,
		}
		for _, a := range splitMulti(get("addresses")) {
			e.Addresses = append(e.Addresses, parseAddress(a))
		}
		for _, id := range splitMulti(get("ids")) {
			e.IDs = append(e.IDs, parseIdentifier(id))
		}
		e.Countries = countries(e.Addresses, e.IDs, splitMulti(get("citizenships")), splitMulti(get("nationalities")))
		if !matchable(&e) {
			return nil, &ParseError{Line: line, Entry: -1, Err: errNoNameNoID}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// csvError turns an encoding/csv error into a *ParseError with its line.
func csvError(err error) error {
	pe := &ParseError{Entry: -1, Err: err}
	if ce, ok := errors.AsType[*csv.ParseError](err); ok {
		pe.Line = ce.StartLine
		pe.Err = ce.Err
		if ce.Line != ce.StartLine {
			pe.Err = fmt.Errorf("%w (record ends on line %d)", ce.Err, ce.Line)
		}
	}
	return pe
}

// blankRecord reports whether a CSV record is the "\x1a" (DOS end-of-file)
// line at the end of the published file, or another line holding only
// spaces. A line of empty fields (",,,") is an entry, and an invalid one.
func blankRecord(rec []string) bool {
	return len(rec) == 1 && strings.Trim(rec[0], " \t\r\n\x1a") == ""
}

// splitMulti splits a multi-valued CSV cell. Values are separated by "; ";
// splitting on ";" alone and trimming also accepts cells written without
// the space.
func splitMulti(cell string) []string {
	if cell == "" {
		return nil
	}
	var out []string
	for v := range strings.SplitSeq(cell, ";") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseAddress splits "street, city, state, postal_code, COUNTRY". The parts
// are taken from the right because the street may itself contain commas.
func parseAddress(s string) Address {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	n := len(parts)
	a := Address{Country: countryCode(parts[n-1])}
	if n >= 5 {
		a.PostalCode, a.State, a.City = parts[n-2], parts[n-3], parts[n-4]
		a.Address = strings.Join(parts[:n-4], ", ")
	} else {
		// Too few parts to tell city from state: keep them together as the
		// street so nothing is lost.
		a.Address = strings.Join(parts[:n-1], ", ")
	}
	return a
}

// parseIdentifier splits "type, number, country, issue_date,
// expiration_date". With more than five parts the extra commas are taken to
// belong to the type, the only free-text part.
func parseIdentifier(s string) Identifier {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if n := len(parts); n > 5 {
		parts = append([]string{strings.Join(parts[:n-4], ", ")}, parts[n-4:]...)
	}
	for len(parts) < 5 {
		parts = append(parts, "")
	}
	return Identifier{
		Type:           parts[0],
		Number:         parts[1],
		Country:        countryCode(parts[2]),
		IssueDate:      parts[3],
		ExpirationDate: parts[4],
	}
}

// countryCode upper-cases two-letter codes ("ru" → "RU") and leaves country
// names alone.
func countryCode(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 2 {
		return strings.ToUpper(s)
	}
	return s
}

// countries gathers an entry's countries without duplicates.
func countries(addrs []Address, ids []Identifier, lists ...[]string) []string {
	var out []string
	add := func(c string) {
		c = countryCode(c)
		if c == "" {
			return
		}
		for _, have := range out {
			if strings.EqualFold(have, c) {
				return
			}
		}
		out = append(out, c)
	}
	for _, a := range addrs {
		add(a.Country)
	}
	for _, id := range ids {
		add(id.Country)
	}
	for _, l := range lists {
		for _, c := range l {
			add(c)
		}
	}
	return out
}

// matchable reports whether an entry has something Screen can match: a
// name or an identifier number.
func matchable(e *Entry) bool {
	if e.Name != "" {
		return true
	}
	for _, id := range e.IDs {
		if strings.TrimSpace(id.Number) != "" {
			return true
		}
	}
	return false
}

// jsonText is a scalar JSON value read as text: the CSL's JSON has numbers
// and nulls where strings are expected (entity_number, for one).
type jsonText string

func (t *jsonText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = jsonText(strings.TrimSpace(s))
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9' || b[0] == 't' || b[0] == 'f'):
		*t = jsonText(b)
	default:
		return fmt.Errorf("want a string, number or null, got %.20s", b)
	}
	return nil
}

func texts(in []jsonText) []string {
	var out []string
	for _, t := range in {
		if t != "" {
			out = append(out, string(t))
		}
	}
	return out
}

type jsonAddress struct {
	Address    jsonText `json:"address"`
	City       jsonText `json:"city"`
	State      jsonText `json:"state"`
	PostalCode jsonText `json:"postal_code"`
	Country    jsonText `json:"country"`
}

type jsonIdentifier struct {
	Type           jsonText `json:"type"`
	Number         jsonText `json:"number"`
	Country        jsonText `json:"country"`
	IssueDate      jsonText `json:"issue_date"`
	ExpirationDate jsonText `json:"expiration_date"`
}

type jsonEntry struct {
	ID                    jsonText         `json:"id"`
	Source                jsonText         `json:"source"`
	EntityNumber          jsonText         `json:"entity_number"`
	Type                  jsonText         `json:"type"`
	Programs              []jsonText       `json:"programs"`
	Name                  jsonText         `json:"name"`
	Addresses             []jsonAddress    `json:"addresses"`
	FederalRegisterNotice jsonText         `json:"federal_register_notice"`
	StartDate             jsonText         `json:"start_date"`
	EndDate               jsonText         `json:"end_date"`
	Remarks               jsonText         `json:"remarks"`
	SourceListURL         jsonText         `json:"source_list_url"`
	AltNames              []jsonText       `json:"alt_names"`
	Citizenships          []jsonText       `json:"citizenships"`
	Nationalities         []jsonText       `json:"nationalities"`
	SourceInformationURL  jsonText         `json:"source_information_url"`
	IDs                   []jsonIdentifier `json:"ids"`
}

func (j *jsonEntry) entry(listName string) Entry {
	e := Entry{
		ID:                    string(j.ID),
		Source:                string(j.Source),
		EntityNumber:          string(j.EntityNumber),
		Type:                  string(j.Type),
		Name:                  string(j.Name),
		AltNames:              texts(j.AltNames),
		Programs:              texts(j.Programs),
		StartDate:             string(j.StartDate),
		EndDate:               string(j.EndDate),
		Remarks:               string(j.Remarks),
		SourceListURL:         string(j.SourceListURL),
		SourceInformationURL:  string(j.SourceInformationURL),
		FederalRegisterNotice: string(j.FederalRegisterNotice),
		List:                  listName,
	}
	for _, a := range j.Addresses {
		e.Addresses = append(e.Addresses, Address{
			Address:    string(a.Address),
			City:       string(a.City),
			State:      string(a.State),
			PostalCode: string(a.PostalCode),
			Country:    countryCode(string(a.Country)),
		})
	}
	for _, id := range j.IDs {
		e.IDs = append(e.IDs, Identifier{
			Type:           string(id.Type),
			Number:         string(id.Number),
			Country:        countryCode(string(id.Country)),
			IssueDate:      string(id.IssueDate),
			ExpirationDate: string(id.ExpirationDate),
		})
	}
	e.Countries = countries(e.Addresses, e.IDs, texts(j.Citizenships), texts(j.Nationalities))
	return e
}

// ParseJSON reads a list in the layout of trade.gov's consolidated.json or
// its search API: {"results":[...]} or a bare array of entries (see the
// package documentation). Every entry is labelled with listName.
func ParseJSON(r io.Reader, listName string) ([]Entry, error) {
	// The whole document is read first so that an error's byte offset can
	// be turned into a line number.
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("screening: read JSON: %w", err)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	p := jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data)), listName: listName}
	entries, err := p.parse()
	if err != nil {
		return nil, err
	}
	return entries, nil
}

type jsonParser struct {
	data     []byte
	dec      *json.Decoder
	listName string
	entries  []Entry
}

func (p *jsonParser) parse() ([]Entry, error) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		return nil, p.fail(-1, errors.New("empty document"))
	}
	if err != nil {
		return nil, p.fail(-1, err)
	}
	switch tok {
	case json.Delim('['):
		if err := p.array(); err != nil {
			return nil, err
		}
	case json.Delim('{'):
		found := false
		for p.dec.More() {
			key, err := p.dec.Token()
			if err != nil {
				return nil, p.fail(-1, err)
			}
			if key != "results" {
				var skip json.RawMessage
				if err := p.dec.Decode(&skip); err != nil {
					return nil, p.fail(-1, err)
				}
				continue
			}
			if found {
				return nil, p.fail(-1, errors.New(`duplicate "results" member`))
			}
			found = true
			tok, err := p.dec.Token()
			if err != nil {
				return nil, p.fail(-1, err)
			}
			if tok != json.Delim('[') {
				return nil, p.fail(-1, errors.New(`"results" is not an array`))
			}
			if err := p.array(); err != nil {
				return nil, err
			}
		}
		if _, err := p.dec.Token(); err != nil {
			return nil, p.fail(-1, err)
		}
		if !found {
			return nil, p.fail(-1, errors.New(`object has no "results" array`))
		}
	default:
		return nil, p.fail(-1, errors.New(`want an object with a "results" array, or an array`))
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, p.fail(-1, errors.New("data after the top-level value"))
	}
	return p.entries, nil
}

// array decodes entries up to and including the closing bracket.
func (p *jsonParser) array() error {
	for i := 0; p.dec.More(); i++ {
		var je jsonEntry
		start := p.dec.InputOffset()
		if err := p.dec.Decode(&je); err != nil {
			return p.fail(i, err)
		}
		e := je.entry(p.listName)
		if !matchable(&e) {
			return &ParseError{Line: p.lineAt(p.valueStart(start)), Entry: i, Err: errNoNameNoID}
		}
		p.entries = append(p.entries, e)
	}
	if _, err := p.dec.Token(); err != nil {
		return p.fail(-1, err)
	}
	return nil
}

// fail wraps a decoding error with the entry index and the line it stopped on.
func (p *jsonParser) fail(entry int, err error) error {
	offset := p.dec.InputOffset()
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = errors.New("unexpected end of JSON input")
		offset = int64(len(p.data))
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		offset = se.Offset
	} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		offset = te.Offset
	}
	return &ParseError{Line: p.lineAt(offset), Entry: entry, Err: err}
}

// valueStart skips the separators between the decoder's offset and the
// next value, so that an entry's line is the line of its opening brace.
func (p *jsonParser) valueStart(offset int64) int64 {
	for offset < int64(len(p.data)) && bytes.IndexByte([]byte(" \t\r\n,"), p.data[offset]) >= 0 {
		offset++
	}
	return offset
}

// lineAt returns the 1-based line of a byte offset into the document.
func (p *jsonParser) lineAt(offset int64) int {
	offset = min(max(offset, 0), int64(len(p.data)))
	return 1 + bytes.Count(p.data[:offset], []byte("\n"))
}
