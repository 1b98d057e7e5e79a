package screening

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// synth generates deterministic, CSL-shaped lists for benchmarks and for
// checking the index against a plain scan. Names mix a long tail of
// invented words (Zipf-distributed, so some recur in hundreds of names)
// with common words that, as in the real list, appear in thousands of
// names: trading, technology, international, city names and so on.
type synth struct {
	rng   *rand.Rand
	pool  []string // distinctive words, most frequent first
	zipf  *rand.Zipf
	first []string // given names, shared by many individuals
}

// commonWords are drawn independently per name with these probabilities.
var commonWords = []struct {
	word string
	p    float64
}{
	{"Trading", 0.14}, {"Technology", 0.10}, {"International", 0.08},
	{"Industrial", 0.05}, {"Electronics", 0.06}, {"Group", 0.07},
	{"Import", 0.03}, {"Export", 0.04}, {"Engineering", 0.04},
	{"Development", 0.03}, {"Investment", 0.03}, {"Holdings", 0.04},
	{"Enterprise", 0.03}, {"Logistics", 0.03}, {"Systems", 0.03},
	{"Solutions", 0.02}, {"Machinery", 0.02}, {"Equipment", 0.03},
	{"Science", 0.02}, {"Research", 0.02}, {"Institute", 0.02},
	{"Aviation", 0.01}, {"Shipping", 0.02}, {"Energy", 0.02},
	{"Petroleum", 0.01}, {"Chemical", 0.02}, {"Materials", 0.02},
	{"Instruments", 0.02}, {"Components", 0.02}, {"Semiconductor", 0.01},
	{"Precision", 0.01}, {"Optical", 0.01}, {"Aerospace", 0.01},
	{"Services", 0.03}, {"Industries", 0.03}, {"Bank", 0.01},
}

var cities = []string{
	"Shenzhen", "Beijing", "Moscow", "Shanghai", "Hong Kong", "Guangzhou",
	"Dubai", "Tehran", "Saint Petersburg", "Minsk", "Wuhan", "Chengdu",
	"Tianjin", "Novosibirsk", "Karachi", "Istanbul",
}

var legalForms = []string{
	"Co., Ltd.", "Co., Ltd.", "Co., Ltd.", "LLC", "LLC", "Limited", "Ltd",
	"JSC", "OJSC", "GmbH", "FZE", "Inc.", "OOO", "Pte. Ltd.", "S.A.",
	"Corporation", "Company Limited",
}

var (
	onsets = []string{"b", "ch", "d", "f", "g", "h", "k", "kh", "l", "m", "n", "p", "r", "s", "sh", "t", "ts", "v", "y", "z", "zh", "w", "j"}
	nuclei = []string{"a", "e", "i", "o", "u", "ai", "ia", "ou", "ei", "ao", "ya"}
	codas  = []string{"", "", "", "", "n", "r", "k", "l", "m", "s", "t", "ng"}
)

func newSynth(seed uint64) *synth {
	rng := rand.New(rand.NewPCG(seed, 0x5c2ee1))
	s := &synth{rng: rng}
	seen := map[string]bool{}
	for len(s.pool) < 40000 {
		w := s.word(2 + rng.IntN(2))
		if !seen[w] {
			seen[w] = true
			s.pool = append(s.pool, w)
		}
	}
	for len(s.first) < 400 {
		w := s.word(2)
		if !seen[w] {
			seen[w] = true
			s.first = append(s.first, w)
		}
	}
	s.zipf = rand.NewZipf(rng, 1.07, 2, uint64(len(s.pool)-1))
	return s
}

// word invents a capitalised word of n syllables.
func (s *synth) word(n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(onsets[s.rng.IntN(len(onsets))])
		b.WriteString(nuclei[s.rng.IntN(len(nuclei))])
		b.WriteString(codas[s.rng.IntN(len(codas))])
	}
	w := b.String()
	return strings.ToUpper(w[:1]) + w[1:]
}

func (s *synth) distinctive() string { return s.pool[s.zipf.Uint64()] }

// orgName builds an organisation name from distinct words (from the pool,
// or fresh ones when fresh is set).
func (s *synth) orgName(fresh bool) string {
	var parts []string
	// A third of organisations carry a city; the first three (Shenzhen,
	// Beijing, Moscow) take almost half of those, thousands of names each.
	if s.rng.Float64() < 0.35 {
		if s.rng.Float64() < 0.45 {
			parts = append(parts, cities[s.rng.IntN(3)])
		} else {
			parts = append(parts, cities[3+s.rng.IntN(len(cities)-3)])
		}
	}
	for range 1 + s.rng.IntN(2) {
		if fresh {
			parts = append(parts, s.word(3))
		} else {
			parts = append(parts, s.distinctive())
		}
	}
	n := 0
	for _, c := range commonWords {
		if s.rng.Float64() < c.p*1.6 {
			parts = append(parts, c.word)
			if n++; n == 3 {
				break
			}
		}
	}
	if s.rng.Float64() < 0.7 {
		parts = append(parts, legalForms[s.rng.IntN(len(legalForms))])
	}
	return strings.Join(parts, " ")
}

// transliterate respells a name the way list alternates often differ.
func (s *synth) transliterate(name string) string {
	r := strings.NewReplacer("kh", "h", "ou", "u", "ts", "c", "ya", "ia", "zh", "j", "ei", "ey")
	out := r.Replace(name)
	if out == name {
		out = strings.Replace(name, "a", "o", 1)
	}
	return out
}

func (s *synth) acronym(name string) string {
	var b strings.Builder
	words := strings.Fields(name)
	for _, w := range words {
		if len(w) > 0 && w[0] >= 'A' && w[0] <= 'Z' {
			b.WriteByte(w[0])
		}
	}
	return b.String() + " " + commonWords[s.rng.IntN(6)].word
}

func (s *synth) person() (primary string, alts []string) {
	surname := s.distinctive() + []string{"ov", "ev", "in", "enko", "i", "zadeh", "", ""}[s.rng.IntN(8)]
	first := s.first[s.rng.IntN(len(s.first))]
	patronymic := s.first[s.rng.IntN(len(s.first))] + "ovich"
	primary = fmt.Sprintf("%s, %s %s", strings.ToUpper(surname), first, patronymic)
	alts = append(alts, first+" "+surname)
	if s.rng.Float64() < 0.6 {
		alts = append(alts, s.transliterate(first+" "+patronymic+" "+surname))
	}
	return primary, alts
}

var synthSources = []string{
	"Entity List (EL) - Bureau of Industry and Security",
	"Specially Designated Nationals (SDN) - Treasury Department",
	"Denied Persons List (DPL) - Bureau of Industry and Security",
	"Unverified List (UVL) - Bureau of Industry and Security",
	"Military End User (MEU) List - Bureau of Industry and Security",
}

// entries returns n entries: ~80% organisations, ~15% individuals, ~4%
// vessels, ~1% aircraft, about three names each, a third with ids.
func (s *synth) entries(n int) []Entry {
	out := make([]Entry, 0, n)
	for i := range n {
		e := Entry{
			ID:     fmt.Sprintf("syn-%06d", i),
			Source: synthSources[s.rng.IntN(len(synthSources))],
			Type:   "Entity",
			List:   "synthetic",
		}
		switch r := s.rng.Float64(); {
		case r < 0.15:
			e.Type = "Individual"
			e.Name, e.AltNames = s.person()
		case r < 0.19:
			e.Type = "Vessel"
			e.Name = strings.ToUpper(s.distinctive() + " " + s.distinctive())
			e.IDs = append(e.IDs, Identifier{Type: "IMO", Number: fmt.Sprintf("9%06d", i)})
		case r < 0.20:
			e.Type = "Aircraft"
			e.Name = fmt.Sprintf("%s-%d", strings.ToUpper(s.distinctive()), 100+s.rng.IntN(900))
		default:
			e.Name = s.orgName(false)
			for range 1 + s.rng.IntN(4) {
				switch s.rng.IntN(5) {
				case 0:
					e.AltNames = append(e.AltNames, s.transliterate(e.Name))
				case 1:
					e.AltNames = append(e.AltNames, s.acronym(e.Name))
				case 2:
					w := strings.Fields(e.Name)
					s.rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
					e.AltNames = append(e.AltNames, strings.Join(w, " "))
				default:
					e.AltNames = append(e.AltNames, s.orgName(false))
				}
			}
		}
		if s.rng.Float64() < 0.33 {
			e.IDs = append(e.IDs, Identifier{Type: "Registration Number", Number: fmt.Sprintf("%010d", 7700000000+i), Country: "RU"})
		}
		if s.rng.Float64() < 0.05 {
			e.StartDate = fmt.Sprintf("20%02d-%02d-%02d", 10+s.rng.IntN(15), 1+s.rng.IntN(12), 1+s.rng.IntN(28))
			e.EndDate = fmt.Sprintf("20%02d-%02d-%02d", 15+s.rng.IntN(15), 1+s.rng.IntN(12), 1+s.rng.IntN(28))
		}
		out = append(out, e)
	}
	return out
}

// typo changes one letter of the longest word of name.
func (s *synth) typo(name string) string {
	words := strings.Fields(name)
	li := 0
	for i, w := range words {
		if len(w) > len(words[li]) {
			li = i
		}
	}
	w := []byte(words[li])
	if len(w) < 2 {
		return name
	}
	p := 1 + s.rng.IntN(len(w)-1)
	switch s.rng.IntN(3) {
	case 0:
		w[p] = "aeiouxyz"[s.rng.IntN(8)]
	case 1:
		w = append(w[:p], w[p+1:]...)
	default:
		w = append(w[:p], append([]byte{"aeiourn"[s.rng.IntN(7)]}, w[p:]...)...)
	}
	words[li] = string(w)
	return strings.Join(words, " ")
}
