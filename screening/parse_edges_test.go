package screening

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// A CSV file has no entry numbering, so every CSV error must say the entry
// is unknown: an entry index in the message would point at the wrong
// record.
func TestCSVErrorsHaveNoEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       io.Reader
		wantLine int
	}{
		{"empty file", strings.NewReader(""), 1},
		{"short row", strings.NewReader("name,ids\nAcme\n"), 2},
		{"read error", io.MultiReader(strings.NewReader("name\nAcme\n"), iotest.ErrReader(errors.New("disk on fire"))), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCSV(tt.in, "l")
			pe, ok := errors.AsType[*ParseError](err)
			if !ok {
				t.Fatalf("got error %v, want a *ParseError", err)
			}
			if got, want := pe.Entry, -1; got != want {
				t.Errorf("Entry = %d, want %d", got, want)
			}
			if got, want := pe.Line, tt.wantLine; got != want {
				t.Errorf("Line = %d, want %d", got, want)
			}
			if strings.Contains(pe.Error(), "entry ") {
				t.Errorf("message %q names an entry", pe.Error())
			}
		})
	}
}

// The ids cell of the CSV is "type, number, country, issue_date,
// expiration_date"; the number must land in Number however many parts the
// cell has, since Number is what ID screening matches.
func TestParseIdentifierParts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Identifier
	}{
		{"Passport", Identifier{Type: "Passport"}},
		{"Passport, P1", Identifier{Type: "Passport", Number: "P1"}},
		{"Passport, P1, ru, 2020-01-01, 2030-01-01", Identifier{Type: "Passport", Number: "P1", Country: "RU", IssueDate: "2020-01-01", ExpirationDate: "2030-01-01"}},
		{"Registration Number, Tax, 123, CN, 2020-01-01, ", Identifier{Type: "Registration Number, Tax", Number: "123", Country: "CN", IssueDate: "2020-01-01"}},
	}
	for _, tt := range tests {
		if got, want := parseIdentifier(tt.in), tt.want; got != want {
			t.Errorf("parseIdentifier(%q) = %+v, want %+v", tt.in, got, want)
		}
	}
}

// An invalid JSON entry is reported on the line of its opening brace, past
// the comma and any blanks after the previous entry.
func TestJSONEntryLineSkipsBlanks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
	}{
		{"space then newline", "[{\"name\":\"A\"}, \n{\"name\":\"\"}]"},
		{"tab then newline", "[{\"name\":\"A\"},\t\n{\"name\":\"\"}]"},
		{"newline then spaces", "[{\"name\":\"A\"},\n  {\"name\":\"\"}]"},
	}
	for _, tt := range tests {
		_, err := ParseJSON(strings.NewReader(tt.in), "l")
		pe, ok := errors.AsType[*ParseError](err)
		if !ok {
			t.Fatalf("%s: got error %v, want a *ParseError", tt.name, err)
		}
		if got, want := pe.Line, 2; got != want {
			t.Errorf("%s: Line = %d, want %d", tt.name, got, want)
		}
		if got, want := pe.Entry, 1; got != want {
			t.Errorf("%s: Entry = %d, want %d", tt.name, got, want)
		}
	}
}

// Names written wholly outside ASCII, with no space or punctuation to
// break them, must still be folded letter by letter.
func TestNormalizeNonASCIIOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"Ørsted", []string{"orsted"}},
		{"Ærø", []string{"aero"}},
		{"ИВАНОВ", []string{"иванов"}},
		{"Éclair Trading", []string{"eclair", "trading"}},
	}
	for _, tt := range tests {
		if got, want := Normalize(tt.in), tt.want; !reflect.DeepEqual(got, want) {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, want)
		}
	}
}

// An identifier number shared by several entries must find each of them,
// and must match whatever the case of its letters, A to Z included.
func TestScreenSharedIDNumber(t *testing.T) {
	t.Parallel()
	entries := []Entry{
		{ID: "old", Source: "L", Type: "Entity", Name: "Old Holder", EndDate: "2020-01-01",
			IDs: []Identifier{{Type: "Registration Number", Number: "AZ 77"}}},
		{ID: "new", Source: "L", Type: "Entity", Name: "New Holder", StartDate: "2021-01-01",
			IDs: []Identifier{{Type: "Registration Number", Number: "AZ 77"}, {Type: "Tax ID", Number: "az77"}}},
	}
	ix := mustIndex(t, entries, Options{})
	tests := []struct {
		id, date, wantEntry string
	}{
		{"AZ 77", "2019-06-01", "old"},
		{"az77", "2019-06-01", "old"},
		{"aZ77", "2024-06-01", "new"},
		{"AZ77", "2024-06-01", "new"},
	}
	for _, tt := range tests {
		r := ix.Screen(Query{EntityID: tt.id, Date: tt.date})
		if got, want := r.Status, StatusHit; got != want {
			t.Errorf("Screen(%q on %s).Status = %q, want %q", tt.id, tt.date, got, want)
			continue
		}
		if got, want := r.Entry, tt.wantEntry; got != want {
			t.Errorf("Screen(%q on %s).Entry = %q, want %q", tt.id, tt.date, got, want)
		}
	}
}

// A word common enough to get a bitmap (bitsetMinPostings names or more)
// must still find every name, including those in the last bitmap word.
func TestScreenCommonWordBitmap(t *testing.T) {
	t.Parallel()
	const n = bitsetMinPostings + 50
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{ID: fmt.Sprint(i), Source: "L", Type: "Entity", Name: fmt.Sprintf("Nordic Trading %d", i)}
	}
	ix := mustIndex(t, entries, Options{})
	for _, i := range []int{0, 63, 64, 255, 256, n - 1} {
		r := ix.Screen(Query{EntityName: fmt.Sprintf("Nordic Trading %d", i)})
		if got, want := r.Entry, fmt.Sprint(i); got != want {
			t.Errorf("Screen(Nordic Trading %d).Entry = %q, want %q", i, got, want)
		}
	}
}

// The deletion table keeps its load at or below 2/3: a full table would
// make a lookup of an absent key probe forever.
func TestDelTableLoad(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 5000; n++ {
		var dt delTable
		dt.init(n)
		if got := len(dt.slots); 2*got < 3*n || got&(got-1) != 0 {
			t.Fatalf("init(%d): %d slots, want a power of two of at least %d", n, got, (3*n+1)/2)
		}
	}
}

// A misspelt query word whose deletion variant is shared by several listed
// words must reach all of them.
func TestScreenSharedDeletionVariant(t *testing.T) {
	t.Parallel()
	entries := []Entry{
		{ID: "a", Source: "L", Type: "Individual", Name: "Ivanova"},
		{ID: "b", Source: "L", Type: "Individual", Name: "Ivanov"},
	}
	ix := mustIndex(t, entries, Options{})
	r := ix.Screen(Query{SubjectName: "Ivanovv"})
	if got, want := r.Status, StatusClear; got == want {
		t.Fatalf("Screen(Ivanovv).Status = %q, want a match", got)
	}
	if got, want := r.Entry, "b"; got != want {
		t.Errorf("Screen(Ivanovv).Entry = %q, want %q", got, want)
	}
}

// Identifier numbers are compared lower-cased and without whitespace, as
// UTF-8, so that the key of a non-ASCII number is its lower-case text.
func TestAppendNormalizedID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"AZ 77", "az77"},
		{"az\t77\n", "az77"},
		{"ЖК 12", "жк12"},
		{"\u0080X", "\u0080x"},
		{"Ÿ-1", "ÿ-1"},
	}
	for _, tt := range tests {
		if got, want := string(appendNormalizedID(nil, tt.in)), tt.want; got != want {
			t.Errorf("appendNormalizedID(%q) = %q, want %q", tt.in, got, want)
		}
	}
}
