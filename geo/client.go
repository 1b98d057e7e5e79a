package geo

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// How ClientAddr found the address it returns.
const (
	ViaPeer          = "peer"            // the TCP peer (no trusted proxy in front, or no header)
	ViaForwarded     = "forwarded"       // the Forwarded header (RFC 7239)
	ViaXForwardedFor = "x-forwarded-for" // the X-Forwarded-For header
	ViaMalformed     = "malformed"       // unknown: the peer or a hop that had to be read did not parse
)

// ParsePrefixes parses a list of networks, such as the trusted proxies
// ClientAddr takes: CIDR prefixes ("10.0.0.0/8", "2001:db8::/32") or bare
// addresses (a /32 or /128). Surrounding spaces are ignored. Prefixes are
// masked, and IPv4-mapped ones (::ffff:10.0.0.0/104) are turned into IPv4,
// because ClientAddr returns unmapped addresses. A prefix of length 0 is
// refused: as a trusted proxy it would let any client choose the address it
// is located by, and no list of special networks is meant to match the whole
// internet. The error names the bad entry by position and text.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for i, entry := range list {
		p, err := parsePrefix(strings.TrimSpace(entry))
		if err != nil {
			return nil, fmt.Errorf("geo: entry %d (%q): %w", i, entry, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty")
	}
	var p netip.Prefix
	if addr, err := netip.ParseAddr(s); err == nil {
		addr = addr.WithZone("")
		p = netip.PrefixFrom(addr, addr.BitLen())
	} else if p, err = netip.ParsePrefix(s); err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR prefix")
	}
	if addr := p.Addr(); addr.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, errors.New("IPv4-mapped prefix shorter than /96")
		}
		p = netip.PrefixFrom(addr.Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, errors.New("a /0 prefix matches every address")
	}
	return p.Masked(), nil
}

// ClientAddr returns the client's address and how it was found.
//
// Without a trusted proxy in front (the peer, r.RemoteAddr, is not in
// trusted), the answer is the peer and ViaPeer; proxy headers are ignored.
// When the peer is trusted, the address comes from Forwarded (RFC 7239,
// for= parameters) if any Forwarded header has one, else from X-Forwarded-For
// (all header lines, comma lists). The hops are walked right to left, skipping
// those that are themselves trusted proxies; the first untrusted hop is the
// client. If every hop is trusted, the leftmost is the client. If there are no
// hops, the peer is. See the package documentation for why.
//
// A hop that must be read and does not parse stops the walk: the result is
// the zero Addr and ViaMalformed, never a guess. That includes Forwarded's
// "unknown" and obfuscated ("_x") identifiers, a Forwarded element without
// for=, and bare (unbracketed) IPv6 in Forwarded. An unparsable RemoteAddr is
// also ViaMalformed. Accepted peer and X-Forwarded-For forms: "ip",
// "ip:port", "[v6]" and "[v6]:port". Returned addresses are unmapped
// (::ffff:192.0.2.1 becomes 192.0.2.1) and have no zone.
func ClientAddr(r *http.Request, trusted []netip.Prefix) (addr netip.Addr, via string) {
	if r == nil {
		return netip.Addr{}, ViaMalformed
	}
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, ViaMalformed
	}
	if !contains(trusted, peer) {
		return peer, ViaPeer
	}

	if lines := r.Header.Values("Forwarded"); hasForParam(lines) {
		return walkForwarded(lines, trusted, peer)
	}
	if lines := r.Header.Values("X-Forwarded-For"); len(lines) > 0 {
		return walkXFF(lines, trusted, peer)
	}
	return peer, ViaPeer
}

// walkXFF finds the client in X-Forwarded-For lines. It visits the lines
// last to first and each line's entries right to left, so lines and entries
// left of the first untrusted hop (written by the client, or by proxies we
// know nothing about) are never parsed. leftmost is the last trusted hop
// seen: the answer if every hop is trusted.
func walkXFF(lines []string, trusted []netip.Prefix, peer netip.Addr) (netip.Addr, string) {
	var leftmost netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, entry = rest[:j], rest[j+1:]
			} else {
				rest, entry = "", rest
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				// Empty list elements are allowed and carry nothing (RFC 9110 §5.6.1).
				continue
			}
			addr, ok := parseHost(entry)
			if !ok {
				return netip.Addr{}, ViaMalformed
			}
			if !contains(trusted, addr) {
				return addr, ViaXForwardedFor
			}
			leftmost = addr
		}
	}
	if leftmost.IsValid() {
		return leftmost, ViaXForwardedFor
	}
	return peer, ViaPeer
}

// walkForwarded is walkXFF for Forwarded lines. A line is parsed whole (its
// quoted strings decide where elements end), but only when the walk reaches it.
func walkForwarded(lines []string, trusted []netip.Prefix, peer netip.Addr) (netip.Addr, string) {
	var leftmost netip.Addr
	var nodes []string // reused across lines
	for i := len(lines) - 1; i >= 0; i-- {
		var ok bool
		// A syntax error anywhere in a line leaves its element boundaries
		// unknown, so the whole line is unreadable.
		if nodes, _, ok = forwardedNodes(lines[i], nodes[:0]); !ok {
			return netip.Addr{}, ViaMalformed
		}
		for j := len(nodes) - 1; j >= 0; j-- {
			addr, ok := parseNode(nodes[j])
			if !ok {
				return netip.Addr{}, ViaMalformed
			}
			if !contains(trusted, addr) {
				return addr, ViaForwarded
			}
			leftmost = addr
		}
	}
	if leftmost.IsValid() {
		return leftmost, ViaForwarded
	}
	return peer, ViaPeer
}

// hasForParam reports whether any Forwarded line has a for= parameter. A
// Forwarded header that only says proto= or host= tells us nothing about
// addresses; then X-Forwarded-For, if any, is used instead. A line that does
// not parse counts as having one, so that it is reported as malformed rather
// than passed over.
func hasForParam(lines []string) bool {
	var buf [4]string
	for _, line := range lines {
		if _, anyFor, ok := forwardedNodes(line, buf[:0]); anyFor || !ok {
			return true
		}
	}
	return false
}

// forwardedNodes parses one Forwarded header line (RFC 7239 §4):
//
//	Forwarded         = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair    = token "=" value
//	value             = token / quoted-string
//
// with optional whitespace around the separators. It appends the for= value
// of each element to nodes, in order; an element without for= is appended as
// "", a hop that did not say who its client was. Empty elements are skipped.
// anyFor reports whether any element had for=. ok is false on a syntax error
// or a repeated for= in one element: the element boundaries, and so the hops,
// are then unknown.
func forwardedNodes(line string, nodes []string) (_ []string, anyFor, ok bool) {
	i := 0
	skipOWS := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	for {
		var (
			node   string
			hasFor bool
			pairs  int
		)
		skipOWS()
		for i < len(line) && line[i] != ',' {
			if line[i] == ';' {
				i++
				skipOWS()
				continue
			}
			start := i
			for i < len(line) && isTokenChar(line[i]) {
				i++
			}
			name := line[start:i]
			if name == "" || i == len(line) || line[i] != '=' {
				return nodes, anyFor, false
			}
			i++
			value, n, valid := forwardedValue(line[i:])
			if !valid {
				return nodes, anyFor, false
			}
			i += n
			skipOWS()
			if i < len(line) && line[i] != ';' && line[i] != ',' {
				return nodes, anyFor, false
			}
			pairs++
			if strings.EqualFold(name, "for") {
				if hasFor {
					return nodes, anyFor, false
				}
				node, hasFor, anyFor = value, true, true
			}
		}
		if pairs > 0 {
			nodes = append(nodes, node)
		}
		if i == len(line) {
			return nodes, anyFor, true
		}
		i++ // ','
	}
}

// forwardedValue reads a token or quoted-string at the start of s. It
// returns the value (unquoted) and the number of bytes read.
func forwardedValue(s string) (value string, n int, ok bool) {
	if s == "" {
		return "", 0, false
	}
	if s[0] != '"' {
		// Lenient: also take the ':' and brackets of an unquoted "ip:port"
		// or "[v6]:port", which RFC 7239 says must be quoted but some
		// proxies send bare.
		for n < len(s) && (isTokenChar(s[n]) || s[n] == ':' || s[n] == '[' || s[n] == ']') {
			n++
		}
		return s[:n], n, n > 0
	}
	escaped := false
	for n = 1; n < len(s); n++ {
		switch s[n] {
		case '\\':
			escaped = true
			n++ // skip the escaped byte
		case '"':
			value = s[1:n]
			if escaped {
				value = unescape(value)
			}
			return value, n + 1, true
		}
	}
	return "", 0, false // unterminated
}

// unescape removes the backslashes of quoted-pairs.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseNode parses a Forwarded for= value (RFC 7239 §6):
//
//	node     = nodename [ ":" node-port ]
//	nodename = IPv4address / "[" IPv6address "]" / "unknown" / obfnode
//
// Only addresses are accepted; "unknown", obfuscated names ("_x") and bare
// IPv6 (ambiguous with a port) are not.
func parseNode(node string) (netip.Addr, bool) {
	var host, port string
	if strings.HasPrefix(node, "[") {
		end := strings.IndexByte(node, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = node[1:end], node[end+1:]
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() {
			return netip.Addr{}, false
		}
		if port != "" && (port[0] != ':' || !validNodePort(port[1:])) {
			return netip.Addr{}, false
		}
		return addr.Unmap().WithZone(""), true
	}
	host = node
	if i := strings.IndexByte(node, ':'); i >= 0 {
		host, port = node[:i], node[i+1:]
		if !validNodePort(port) {
			return netip.Addr{}, false
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Is4() {
		return netip.Addr{}, false
	}
	return addr, true
}

// validNodePort accepts a decimal port or an obfuscated one ("_" followed by
// letters, digits, ".", "_" or "-"). Its value does not matter to us, but a
// port that fits neither form means the value is not what it seems.
func validNodePort(p string) bool {
	if p == "" {
		return false
	}
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !isASCIILetter(c) && !('0' <= c && c <= '9') && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// parseHost parses a peer address or an X-Forwarded-For entry: "ip",
// "ip:port", "[v6]" or "[v6]:port". The result is unmapped and has no zone.
// The form is picked before parsing so that valid input costs no error
// allocation: RemoteAddr always has a port, X-Forwarded-For usually has none.
func parseHost(s string) (netip.Addr, bool) {
	var addr netip.Addr
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		addr = a
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = ap.Addr()
	default:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = a
	}
	return addr.Unmap().WithZone(""), true
}

func contains(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
