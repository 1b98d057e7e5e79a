package screening

import (
	"math"
	"slices"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"lower case", "ACME Widgets", []string{"acme", "widget"}},
		{"legal suffix", "Acme Ltd", []string{"acme"}},
		{"legal suffix spelled out", "ACME LIMITED", []string{"acme"}},
		{"two legal suffixes", "Acme Co., Ltd.", []string{"acme"}},
		{"legal prefix", "OOO Arktik", []string{"arktik"}},
		{"dotted legal form", "Dupont S.A.R.L.", []string{"dupont"}},
		{"S.A. joined then dropped", "Banco Ejemplo S.A.", []string{"banco", "ejemplo"}},
		{"initials joined", "U.S.A. Trading", []string{"usa", "trading"}},
		{"spaced initials joined", "A B C Group", []string{"abc", "group"}},
		{"lone initial kept", "Dmitri I. Volkov", []string{"dmitri", "i", "volkov"}},
		{"diacritics", "Müller Société Générale", []string{"muller", "societe", "generale"}},
		{"special letters", "Straße Øresund Æther Œuvre Łódź Þór Đakovo", []string{"strasse", "oresund", "aether", "oeuvre", "lodz", "thor", "dakovo"}},
		{"upper-case special letters", "STRASSE ØRESUND", []string{"strasse", "oresund"}},
		{"compatibility forms", "ＡＢＣ Ｔｅｃｈ", []string{"abc", "tech"}},
		{"apostrophe", "O'Neil", []string{"oneil"}},
		{"typographic apostrophe", "O’Neil", []string{"oneil"}},
		{"ampersand", "Smith & Wesson", []string{"smith", "wesson"}},
		{"ampersand without spaces", "AT&T", []string{"at", "t"}},
		{"punctuation separates", "Alpha-Beta/Gamma_Delta", []string{"alpha", "beta", "gamma", "delta"}},
		{"plural s", "Holdings Systems", []string{"holding", "system"}},
		{"plural ies", "Technologies Industries", []string{"technology", "industry"}},
		{"double s kept", "Glass Express", []string{"glass", "express"}},
		{"short words not stemmed", "Bus Gas", []string{"bus", "gas"}},
		{"stop words", "The Bank of Ireland", []string{"bank", "ireland"}},
		{"only stop and legal words kept", "The Company", []string{"the", "company"}},
		{"group kept", "Acme Group Ltd", []string{"acme", "group"}},
		{"digits", "7th Avenue 2000", []string{"7th", "avenue", "2000"}},
		{"comma-inverted name", "VOLKOV, Dmitri Ivanovich", []string{"volkov", "dmitri", "ivanovich"}},
		{"cyrillic", "Волков Дмитрий", []string{"волков", "дмитрии"}},
		{"no letters", "--- & ---", []string{"and"}},
		{"empty", "", nil},
		{"only punctuation", "...", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSimilarity(t *testing.T) {
	tests := []struct {
		d, la, lb int32
		want      float64
	}{
		{0, 3, 3, 1},
		{1, 3, 3, 0},         // up to 3 runes: exact only
		{1, 3, 4, 0.75},      // 4 runes: one edit
		{1, 7, 7, 1 - 1.0/7}, // 7 runes: one edit
		{2, 7, 7, 0},
		{2, 8, 7, 0.75}, // 8 runes: two edits
		{3, 12, 12, 0},
	}
	for _, tt := range tests {
		if got := similarity(tt.d, tt.la, tt.lb); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("similarity(%d, %d, %d) = %v, want %v", tt.d, tt.la, tt.lb, got, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"2020-01-01", 20200101},
		{" 2020-01-31 ", 20200131},
		{"2020-01-01T00:00:00Z", 20200101},
		{"2020-13-01", 0},
		{"2020-1-1", 0},
		{"01/01/2020", 0},
		{"2020-01-011", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := parseDate(tt.in); got != tt.want {
			t.Errorf("parseDate(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
