package screening

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{
			name: "published column order",
			in: "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date,end_date,standard_order,license_requirement,license_policy,call_sign,vessel_type,gross_tonnage,gross_registered_tonnage,vessel_flag,vessel_owner,remarks,source_list_url,alt_names,citizenships,dates_of_birth,nationalities,places_of_birth,source_information_url,ids\n" +
				`id1,Entity List (EL) - Bureau of Industry and Security,,Entity,EAR,"Acme Co., Ltd.",,"Room 1, Block A, Shenzhen, Guangdong, 518057, CN; 5 Main St, Hong Kong, , , hk",89 FR 1,2024-03-01,,N,,,,,,,,,"line one,` + "\n" + `line two",https://list,ACME; Acme Shenzhen,,,,,https://info,"Registration Number, 123, CN, 2020-01-01, ; Tax ID, 456, , , "` + "\n",
			want: []Entry{{
				ID: "id1", Source: "Entity List (EL) - Bureau of Industry and Security", Type: "Entity",
				Name: "Acme Co., Ltd.", AltNames: []string{"ACME", "Acme Shenzhen"}, Programs: []string{"EAR"},
				Addresses: []Address{
					{Address: "Room 1, Block A", City: "Shenzhen", State: "Guangdong", PostalCode: "518057", Country: "CN"},
					{Address: "5 Main St", City: "Hong Kong", Country: "HK"},
				},
				IDs: []Identifier{
					{Type: "Registration Number", Number: "123", Country: "CN", IssueDate: "2020-01-01"},
					{Type: "Tax ID", Number: "456"},
				},
				Countries:             []string{"CN", "HK"},
				StartDate:             "2024-03-01",
				Remarks:               "line one,\nline two",
				SourceListURL:         "https://list",
				SourceInformationURL:  "https://info",
				FederalRegisterNotice: "89 FR 1",
				List:                  "csl",
			}},
		},
		{
			name: "reordered and unknown columns, BOM, CRLF, trailing SUB line",
			in: "\ufeffids,extra,NAME,type,citizenships,nationalities,alt_names,_id\r\n" +
				"\"Passport, P1, RU, , \",x,\"Volkov, Dmitri\",Individual,RU,BY,Dmitry Volkov,v1\r\n" +
				"\x1a",
			want: []Entry{{
				ID: "v1", Type: "Individual", Name: "Volkov, Dmitri", AltNames: []string{"Dmitry Volkov"},
				IDs:       []Identifier{{Type: "Passport", Number: "P1", Country: "RU"}},
				Countries: []string{"RU", "BY"},
				List:      "csl",
			}},
		},
		{
			name: "a stray quote, no ids",
			in:   "name,ids,addresses\nAcme \"Best\" Widgets,,\nBeta,,\"Moscow, RU\"\n",
			want: []Entry{
				{Name: `Acme "Best" Widgets`, List: "csl"},
				{Name: "Beta", Addresses: []Address{{Address: "Moscow", Country: "RU"}}, Countries: []string{"RU"}, List: "csl"},
			},
		},
		{
			name: "id without a name",
			in:   "name,ids\n,\"Registration Number, 77, RU, , \"\n",
			want: []Entry{{IDs: []Identifier{{Type: "Registration Number", Number: "77", Country: "RU"}}, Countries: []string{"RU"}, List: "csl"}},
		},
		{
			name: "header only",
			in:   "name,ids\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tt.in), "csl")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseCSVErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantLine int
		wantText string
	}{
		{"empty", "", 1, "no header"},
		{"no name column", "_id,source,alt_names\n1,x,y\n", 1, `no "name" column`},
		{"entry without name or id", "name,ids\nAcme,\n\"multi\nline\",\n,\n", 5, "neither a name nor an identifier"},
		{"id cell without a number", "name,ids\n,\"Passport, , RU, , \"\n", 2, "neither a name nor an identifier"},
		// A download cut short: a row missing its last fields, or an
		// unclosed quote that swallows the rest of the file.
		{"short row", "name,ids,addresses\nAcme,,x\nBeta,\n", 3, "2 fields, the header 3"},
		{"cut inside a quote", "name,ids,addresses\nAcme,,x\n\"Beta,,\nGamma,,\n", 3, "1 fields, the header 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tt.in), "csl")
			if err == nil {
				t.Fatalf("ParseCSV succeeded with %d entries, want an error", len(got))
			}
			pe, ok := errors.AsType[*ParseError](err)
			if !ok {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Line != tt.wantLine {
				t.Errorf("Line = %d, want %d (%v)", pe.Line, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if got != nil {
				t.Errorf("got a partial list of %d entries", len(got))
			}
		})
	}
}

func TestParseReadError(t *testing.T) {
	readErr := errors.New("disk on fire")
	for _, parse := range []func(io.Reader, string) ([]Entry, error){ParseCSV, ParseJSON} {
		got, err := parse(io.MultiReader(strings.NewReader("name\nAcme\n"), iotest.ErrReader(readErr)), "l")
		if !errors.Is(err, readErr) || got != nil {
			t.Errorf("got %d entries, error %v; want no entries and %v", len(got), err, readErr)
		}
	}
}

func TestParseJSON(t *testing.T) {
	entry := `{"id":"j1","source":"Local list","entity_number":4711,"type":"Entity","programs":["P1"],
		"name":"Blue Lantern Analytics Pte. Ltd.","title":null,"unknown":{"nested":[1,2]},
		"addresses":[{"address":"80 Robinson Road","city":"Singapore","state":null,"postal_code":"068898","country":"sg"}],
		"federal_register_notice":null,"start_date":"2025-06-01","end_date":null,"remarks":"r",
		"source_list_url":"https://l","alt_names":["Blue Lantern Data",""],"citizenships":["SG"],
		"dates_of_birth":[],"nationalities":null,"places_of_birth":[],"source_information_url":"https://i",
		"ids":[{"type":"UEN","number":"2024K","country":"SG","issue_date":null,"expiration_date":null}]}`
	want := []Entry{{
		ID: "j1", Source: "Local list", EntityNumber: "4711", Type: "Entity", Programs: []string{"P1"},
		Name: "Blue Lantern Analytics Pte. Ltd.", AltNames: []string{"Blue Lantern Data"},
		Addresses:            []Address{{Address: "80 Robinson Road", City: "Singapore", PostalCode: "068898", Country: "SG"}},
		IDs:                  []Identifier{{Type: "UEN", Number: "2024K", Country: "SG"}},
		Countries:            []string{"SG"},
		StartDate:            "2025-06-01",
		Remarks:              "r",
		SourceListURL:        "https://l",
		SourceInformationURL: "https://i",
		List:                 "local",
	}}
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{"object with results", `{"total":1,"results":[` + entry + `],"sources_used":[]}`, want},
		{"results first", `{"results":[` + entry + `],"total":1}`, want},
		{"bare array", `[` + entry + `]`, want},
		{"empty array", `[]`, nil},
		{"empty results", `{"results":[]}`, nil},
		{"byte order mark", "\ufeff[" + entry + `]`, want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSON(strings.NewReader(tt.in), "local")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantLine  int
		wantEntry int
		wantText  string
	}{
		{"empty", ``, 1, -1, "empty document"},
		{"bad JSON", "{\"results\": [\n{\"name\": \"A\"},\n{\"name\": \"B\" \"type\": 1}\n]}", 3, 1, "invalid character"},
		{"truncated", "[{\"name\": \"A\"},\n{\"name\"", 2, 1, "unexpected end"},
		{"no results", `{"total": 0}`, 1, -1, `no "results" array`},
		{"results not an array", `{"results": {}}`, 1, -1, "not an array"},
		{"scalar", `"results"`, 1, -1, "want an object"},
		{"wrong type", "[\n{\"name\": \"A\"},\n{\"name\": {\"first\": \"B\"}}\n]", 3, 1, "want a string"},
		{"entry without name or id", "[\n{\"name\": \"A\"},\n  {\"name\": \"\", \"ids\": [{\"number\": \" \"}]}\n]", 3, 1, "neither a name nor an identifier"},
		{"trailing data", `[] []`, 1, -1, "after the top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSON(strings.NewReader(tt.in), "local")
			if err == nil {
				t.Fatalf("ParseJSON succeeded with %d entries, want an error", len(got))
			}
			pe, ok := errors.AsType[*ParseError](err)
			if !ok {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Line != tt.wantLine || pe.Entry != tt.wantEntry {
				t.Errorf("Line, Entry = %d, %d, want %d, %d (%v)", pe.Line, pe.Entry, tt.wantLine, tt.wantEntry, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if got != nil {
				t.Errorf("got a partial list of %d entries", len(got))
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		path     string
		wantName string // first entry's name; empty when an error is wanted
		wantErr  string // substring of the error
	}{
		{"csv", write("list.csv", "name\nAcme\n"), "Acme", ""},
		{"upper-case extension", write("LIST.CSV", "name\nAcme\n"), "Acme", ""},
		{"json", write("list.json", `[{"name":"Beta"}]`), "Beta", ""},
		{"unknown extension", write("list.xml", "<list/>"), "", `list.xml: unknown list format ".xml"`},
		{"missing file", filepath.Join(dir, "absent.csv"), "", "absent.csv"},
		{"malformed csv names file and line", write("bad.csv", "name,ids\nAcme,\n,\n"), "", "bad.csv: line 3: entry has neither"},
		{"malformed json names file and entry", write("bad.json", `[{"name":"A"},{"name":""}]`), "", "bad.json: entry 1: line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFile(tt.path, "l")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Name != tt.wantName || got[0].List != "l" {
				t.Errorf("got %+v, want one entry %q in list l", got, tt.wantName)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		path     string
		wantName string
		wantErr  string
	}{
		{"csv", "name\nAcme\n", "lists/a.csv", "Acme", ""},
		{"json", `{"results":[{"name":"Beta"}]}`, "lists/b.JSON", "Beta", ""},
		{"extension decides", `[{"name":"Beta"}]`, "lists/b.csv", "", "lists/b.csv: line 1:"},
		{"unknown extension", "name\nAcme\n", "lists/a.txt", "", "lists/a.txt: unknown list format"},
		{"error names path and entry", `[{"name":""}]`, "lists/c.json", "", "lists/c.json: entry 0: line 1: entry has neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBytes([]byte(tt.data), tt.path, "l")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Name != tt.wantName {
				t.Errorf("got %+v, want one entry %q", got, tt.wantName)
			}
		})
	}
}
