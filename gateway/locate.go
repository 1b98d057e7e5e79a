package gateway

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/weightgate/weightgate/geo"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/screening"
)

// Locator finds where a request comes from: the client address (the TCP
// peer, or what a trusted proxy reports) and the country of that address.
// The policy checks that country against the one the token claims.
type Locator struct {
	// Countries maps an address to its country; nil means no database, so
	// every country is unknown.
	Countries CountryDB
	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers are believed; any other peer's are ignored, so that a client
	// cannot choose the address it is judged by.
	TrustedProxies []netip.Prefix
	// TrustedNetworks are corporate or VPN ranges: their egress country
	// says nothing about where the requester is, so the policy exempts
	// them from the cross-check (request.ip_trusted_network).
	TrustedNetworks []netip.Prefix
}

// CountryDB maps an address to an upper-case ISO 3166-1 alpha-2 code, or ""
// when its country is unknown (private, loopback, not in the database).
// *geo.DB implements it.
type CountryDB interface {
	Country(addr netip.Addr) string
}

// clientAddr is r's client address, read through trusted proxies only, and
// how it was found (geo.ClientAddr).
func (l *Locator) clientAddr(r *http.Request) (netip.Addr, string) {
	var proxies []netip.Prefix
	if l != nil {
		proxies = l.TrustedProxies
	}
	return geo.ClientAddr(r, proxies)
}

// locate fills the client-address fields of req. A nil Locator trusts no
// proxy and knows no country.
func (l *Locator) locate(r *http.Request, req *policy.Request) {
	addr, via := l.clientAddr(r)
	req.ClientIPVia = via
	if !addr.IsValid() {
		return
	}
	req.ClientIP = addr.String()
	if l == nil {
		return
	}
	if l.Countries != nil {
		req.IPCountry = l.Countries.Country(addr)
	}
	for _, p := range l.TrustedNetworks {
		if p.Contains(addr) {
			req.IPTrustedNetwork = true
			break
		}
	}
}

// Screener screens requesters against restricted-party lists.
// *screening.Lists implements it.
type Screener interface {
	Screen(q screening.Query) screening.Result
	// State describes the lists in force and the last reload, for /readyz.
	State() screening.State
}

// Screen screens the subject and its entity on the date of now, as the
// policy input has it. With no Screener, or no one to screen (an anonymous
// request), the status is "off".
func Screen(scr Screener, sub policy.Subject, now time.Time) policy.Screening {
	if scr == nil || sub.Anonymous {
		return policy.Screening{Status: policy.ScreeningOff}
	}
	res := scr.Screen(screening.Query{
		EntityName: sub.Entity.Name, EntityID: sub.Entity.ID,
		SubjectName: sub.Name, SubjectID: sub.ID,
		Date: now.UTC().Format(time.DateOnly),
	})
	return policy.Screening{Status: res.Status, List: res.List, Entry: res.Entry, Name: res.Name, Field: res.Field, Score: res.Score}
}
