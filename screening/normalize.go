package screening

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// dropWords are removed from a name's tokens because they say nothing about
// which party it is: stop words and legal forms. "group" is deliberately not
// here: "X Group" and "X" are often different parties.
var dropWords = map[string]struct{}{
	// stop words
	"the": {}, "of": {}, "and": {},
	// legal forms
	"ab": {}, "ag": {}, "ao": {}, "as": {}, "bhd": {}, "bv": {}, "cjsc": {},
	"co": {}, "company": {}, "corp": {}, "corporation": {}, "cv": {},
	"fze": {}, "fzco": {}, "fzllc": {}, "gmbh": {}, "inc": {},
	"incorporated": {}, "jsc": {}, "kft": {}, "kg": {}, "kk": {}, "llc": {},
	"llp": {}, "lp": {}, "ltd": {}, "ltda": {}, "limited": {}, "nv": {},
	"oao": {}, "ojsc": {}, "ooo": {}, "oy": {}, "pao": {}, "pjsc": {},
	"plc": {}, "pte": {}, "pty": {}, "pvt": {}, "sa": {}, "sarl": {},
	"sas": {}, "sdn": {}, "sl": {}, "spa": {}, "sro": {}, "srl": {}, "zao": {},
}

// Normalize returns the tokens a name is compared by, in the order they
// appear (see the package documentation for the rules). It returns nil for
// a name that yields no token, such as one without letters or digits.
func Normalize(name string) []string {
	var n normalizer
	n.run(name)
	if len(n.spans) == 0 {
		return nil
	}
	out := make([]string, len(n.spans))
	for i, sp := range n.spans {
		out[i] = string(n.buf[sp.start:sp.end])
	}
	return out
}

// span is one token of a normalised name: bytes [start,end) of
// normalizer.buf, runes long.
type span struct {
	start, end, runes int32
}

// normalizer turns a name into tokens. It keeps its buffers between calls so
// that screening a query does not allocate.
type normalizer struct {
	iter  norm.Iter
	buf   []byte // the tokens' bytes, back to back
	spans []span
	start int32 // start of the token being built, or -1
	runes int32 // runes in the token being built
}

func (n *normalizer) run(s string) {
	n.buf = n.buf[:0]
	n.spans = n.spans[:0]
	n.start = -1
	if isASCII(s) {
		// NFKD leaves ASCII alone, and there are no marks to drop.
		for i := 0; i < len(s); i++ {
			n.ascii(s[i])
		}
	} else {
		// norm.Iter, unlike norm.Form.AppendString, does not allocate.
		n.iter.InitString(norm.NFKD, s)
		for !n.iter.Done() {
			for b := n.iter.Next(); len(b) > 0; {
				r, size := utf8.DecodeRune(b)
				b = b[size:]
				if r < utf8.RuneSelf {
					n.ascii(byte(r))
				} else {
					n.other(r)
				}
			}
		}
	}
	n.endToken()
	n.joinInitials()
	n.stem()
	n.dropWords()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (n *normalizer) ascii(c byte) {
	switch {
	case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
		n.addByte(c)
	case 'A' <= c && c <= 'Z':
		n.addByte(c + 'a' - 'A')
	case c == '\'' || c == '`':
		// Apostrophes join: O'Neil is oneil, not o + neil.
	case c == '&':
		n.endToken()
		n.addString("and")
		n.endToken()
	default:
		n.endToken()
	}
}

func (n *normalizer) other(r rune) {
	if unicode.In(r, unicode.Mn, unicode.Me) {
		return // the diacritics NFKD split off
	}
	r = unicode.ToLower(r)
	switch r {
	case 'ß':
		n.addString("ss")
	case 'ø':
		n.addByte('o')
	case 'æ':
		n.addString("ae")
	case 'œ':
		n.addString("oe")
	case 'đ', 'ð':
		n.addByte('d')
	case 'ł':
		n.addByte('l')
	case 'þ':
		n.addString("th")
	case 'ħ':
		n.addByte('h')
	case 'ı':
		n.addByte('i')
	case '’', '‘', 'ʼ', '′':
		// apostrophes, as in ascii
	default:
		// Spacing marks (Mc) belong to the letter before them in
		// Indic scripts; splitting the word there would be wrong.
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mc, r) {
			if n.start < 0 {
				n.start = int32(len(n.buf))
				n.runes = 0
			}
			n.buf = utf8.AppendRune(n.buf, r)
			n.runes++
		} else {
			n.endToken()
		}
	}
}

func (n *normalizer) addByte(c byte) {
	if n.start < 0 {
		n.start = int32(len(n.buf))
		n.runes = 0
	}
	n.buf = append(n.buf, c)
	n.runes++
}

func (n *normalizer) addString(s string) {
	for i := 0; i < len(s); i++ {
		n.addByte(s[i])
	}
}

func (n *normalizer) endToken() {
	if n.start >= 0 {
		n.spans = append(n.spans, span{start: n.start, end: int32(len(n.buf)), runes: n.runes})
		n.start = -1
	}
}

// joinInitials merges runs of two or more single-letter tokens: "S.A." is
// one token sa. Tokens are back to back in buf, so a run becomes one span.
func (n *normalizer) joinInitials() {
	out := n.spans[:0]
	for i := 0; i < len(n.spans); {
		sp := n.spans[i]
		j := i + 1
		if n.singleLetter(sp) {
			for j < len(n.spans) && n.singleLetter(n.spans[j]) {
				sp.end = n.spans[j].end
				sp.runes++
				j++
			}
		}
		out = append(out, sp)
		i = j
	}
	n.spans = out
}

func (n *normalizer) singleLetter(sp span) bool {
	if sp.runes != 1 {
		return false
	}
	r, _ := utf8.DecodeRune(n.buf[sp.start:sp.end])
	return unicode.IsLetter(r)
}

// stem strips simple English plurals from tokens longer than three runes.
func (n *normalizer) stem() {
	for i := range n.spans {
		sp := &n.spans[i]
		if sp.runes <= 3 {
			continue
		}
		t := n.buf[sp.start:sp.end]
		switch l := len(t); {
		case t[l-3] == 'i' && t[l-2] == 'e' && t[l-1] == 's':
			t[l-3] = 'y'
			sp.end -= 2
			sp.runes -= 2
		case t[l-1] == 's' && t[l-2] != 's':
			sp.end--
			sp.runes--
		}
	}
}

// dropWords removes stop words and legal forms, unless that would remove
// every token: a party called "The Company" is still a name.
func (n *normalizer) dropWords() {
	keep := 0
	for _, sp := range n.spans {
		if _, drop := dropWords[string(n.buf[sp.start:sp.end])]; !drop {
			keep++
		}
	}
	if keep == 0 || keep == len(n.spans) {
		return
	}
	out := n.spans[:0]
	for _, sp := range n.spans {
		if _, drop := dropWords[string(n.buf[sp.start:sp.end])]; !drop {
			out = append(out, sp)
		}
	}
	n.spans = out
}
