package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	for _, c := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // one element per X-Forwarded-For header
		realIP  string
		want    string // "" for an invalid address
	}{
		// No trusted proxy: the headers are the client's own words.
		{name: "no proxies, no headers", peer: "203.0.113.5:40000", want: "203.0.113.5"},
		{name: "no proxies ignore X-Forwarded-For", peer: "203.0.113.5:40000", xff: []string{"198.51.100.7"}, want: "203.0.113.5"},
		{name: "no proxies ignore X-Real-IP", peer: "203.0.113.5:40000", realIP: "198.51.100.7", want: "203.0.113.5"},
		{name: "no proxies, even a private-looking peer", peer: "10.0.0.1:40000", xff: []string{"198.51.100.7"}, want: "10.0.0.1"},
		{name: "untrusted peer forging a trusted hop", trusted: proxies, peer: "203.0.113.5:40000", xff: []string{"198.51.100.7, 10.0.0.2"}, want: "203.0.113.5"},
		{name: "untrusted peer with X-Real-IP", trusted: proxies, peer: "203.0.113.5:40000", realIP: "198.51.100.7", want: "203.0.113.5"},

		// A trusted proxy: the rightmost hop it did not write is the client.
		{name: "trusted proxy, one hop", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "client-forged leftmost entry", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"6.6.6.6, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "client-forged entries that look like proxies", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"10.9.9.9, 192.168.9.9, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "chain of trusted proxies", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"6.6.6.6, 198.51.100.7, 192.168.1.1, 10.0.0.2"}, want: "198.51.100.7"},
		{name: "every hop trusted: the leftmost sent it", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"10.0.0.3, 192.168.1.1"}, want: "10.0.0.3"},
		{name: "trusted proxy, no headers", trusted: proxies, peer: "10.0.0.1:40000", want: "10.0.0.1"},
		{name: "spaces around entries", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{" 6.6.6.6 ,\t198.51.100.7 , 10.0.0.2 "}, want: "198.51.100.7"},

		// Several X-Forwarded-For headers read as one list, in order.
		{name: "two headers, client forged the first", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"6.6.6.6", "198.51.100.7"}, want: "198.51.100.7"},
		{name: "two headers, proxy hop in the second", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"6.6.6.6, 198.51.100.7", "10.0.0.2"}, want: "198.51.100.7"},
		{name: "three headers", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"6.6.6.6", "198.51.100.7", "192.168.1.1, 10.0.0.2"}, want: "198.51.100.7"},

		// X-Real-IP only when there is no X-Forwarded-For.
		{name: "X-Real-IP from a trusted proxy", trusted: proxies, peer: "10.0.0.1:40000", realIP: "198.51.100.7", want: "198.51.100.7"},
		{name: "X-Forwarded-For wins over X-Real-IP", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"198.51.100.8"}, realIP: "198.51.100.7", want: "198.51.100.8"},
		{name: "garbage X-Real-IP", trusted: proxies, peer: "10.0.0.1:40000", realIP: "localhost", want: "10.0.0.1"},

		// Garbage counts against the last proxy known, never as a fresh client.
		{name: "garbage rightmost", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"198.51.100.7, garbage"}, want: "10.0.0.1"},
		{name: "garbage behind a trusted hop", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"198.51.100.7, bogus, 10.0.0.2"}, want: "10.0.0.2"},
		{name: "garbage left of the client", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"garbage, 198.51.100.7"}, want: "198.51.100.7"},
		{name: "empty entry", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"198.51.100.7,"}, want: "10.0.0.1"},
		{name: "entry with a port", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"198.51.100.7:5555"}, want: "10.0.0.1"},
		{name: "unknown", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"unknown"}, want: "10.0.0.1"},
		{name: "bracketed IPv6", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"[2001:db8:1::5]"}, want: "10.0.0.1"},

		// IPv6 and IPv4-mapped addresses.
		{name: "IPv6 peer, no proxies", peer: "[2001:db8:1::5]:40000", xff: []string{"198.51.100.7"}, want: "2001:db8:1::5"},
		{name: "IPv6 trusted proxy", trusted: proxies, peer: "[2001:db8:ffff::1]:40000", xff: []string{"6.6.6.6, 2001:db8:1::5"}, want: "2001:db8:1::5"},
		{name: "IPv6 chain", trusted: proxies, peer: "[2001:db8:ffff::1]:40000", xff: []string{"2001:db8:1::5, 2001:db8:ffff::2"}, want: "2001:db8:1::5"},
		{name: "IPv4-mapped peer is its IPv4 address", peer: "[::ffff:203.0.113.5]:40000", want: "203.0.113.5"},
		{name: "IPv4-mapped trusted peer", trusted: proxies, peer: "[::ffff:10.0.0.1]:40000", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
		{name: "IPv4-mapped client", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"::ffff:198.51.100.7"}, want: "198.51.100.7"},
		{name: "IPv4-mapped trusted hop", trusted: proxies, peer: "10.0.0.1:40000", xff: []string{"198.51.100.7, ::ffff:10.0.0.2"}, want: "198.51.100.7"},

		// Peers that are not host:port.
		{name: "peer without a port", peer: "203.0.113.5", want: "203.0.113.5"},
		{name: "unparseable peer", trusted: proxies, peer: "@", xff: []string{"198.51.100.7"}, want: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.realIP != "" {
				r.Header.Set("X-Real-IP", c.realIP)
			}
			got := ClientIP(r, c.trusted)
			if c.want == "" {
				if got.IsValid() {
					t.Fatalf("ClientIP = %v, want an invalid address", got)
				}
				return
			}
			if want := netip.MustParseAddr(c.want); got != want {
				t.Fatalf("ClientIP = %v, want %v", got, want)
			}
		})
	}
}

// TestClientIPForgeryKeepsBucket: whatever a client writes in the headers,
// behind a trusted proxy or not, its address stays the same.
func TestClientIPForgeryKeepsBucket(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	forged := []string{"1.1.1.1", "2.2.2.2, 3.3.3.3", "10.0.0.9", "::1", "garbage", "", "127.0.0.1, 10.1.1.1"}
	for _, f := range forged {
		direct := httptest.NewRequest(http.MethodGet, "/", nil)
		direct.RemoteAddr = "203.0.113.5:1"
		if f != "" {
			direct.Header.Set("X-Forwarded-For", f)
			direct.Header.Set("X-Real-IP", f)
		}
		if got := ClientIP(direct, trusted); got != netip.MustParseAddr("203.0.113.5") {
			t.Errorf("direct client forging %q: %v", f, got)
		}
		proxied := httptest.NewRequest(http.MethodGet, "/", nil)
		proxied.RemoteAddr = "10.0.0.1:1"
		xff := "203.0.113.5" // what the proxy appends
		if f != "" {
			xff = f + ", " + xff
		}
		proxied.Header.Set("X-Forwarded-For", xff)
		if got := ClientIP(proxied, trusted); got != netip.MustParseAddr("203.0.113.5") {
			t.Errorf("proxied client forging %q: %v", f, got)
		}
	}
}

func TestParseProxies(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                  nil,
		" , ,":                              nil,
		"10.0.0.0/8":                        {"10.0.0.0/8"},
		"10.1.2.3/8":                        {"10.0.0.0/8"}, // masked
		"127.0.0.1":                         {"127.0.0.1/32"},
		" 10.0.0.0/8 , 192.168.1.1 ,":       {"10.0.0.0/8", "192.168.1.1/32"},
		"2001:db8::/32":                     {"2001:db8::/32"},
		"2001:db8::1":                       {"2001:db8::1/128"},
		"::ffff:10.0.0.1":                   {"10.0.0.1/32"},
		"10.0.0.0/8,172.16.0.0/12,fc00::/7": {"10.0.0.0/8", "172.16.0.0/12", "fc00::/7"},
	} {
		got, err := ParseProxies(in)
		if err != nil {
			t.Errorf("ParseProxies(%q): %v", in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !slices.Equal(s, want) {
			t.Errorf("ParseProxies(%q) = %v, want %v", in, s, want)
		}
	}
	for _, in := range []string{"nope", "10.0.0.0/33", "10.0.0.0/8,bad", "10.0.0.1/", "/8", "10.0.0.256", "2001:db8::/129", "10.0.0.0/8;192.168.0.0/16"} {
		if got, err := ParseProxies(in); err == nil {
			t.Errorf("ParseProxies(%q) = %v, want an error", in, got)
		}
	}
	// An address is trusted as itself, not as its network.
	p, _ := ParseProxies("127.0.0.1")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.2:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	if got := ClientIP(r, p); got != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("127.0.0.2 behind a trusted 127.0.0.1: %v", got)
	}
}

func TestMaskPathPhones(t *testing.T) {
	for in, want := range map[string]string{
		"/api/v4.0/isregister/13812341234": "/api/v4.0/isregister/138****1234",
		"/api/v4.0/sendsms/13812341234/x":  "/api/v4.0/sendsms/138****1234/x",
		"/api/v4.0/login":                  "/api/v4.0/login",
		"/a/123456/b":                      "/a/123456/b",
		"/x/+8613812341234":                "/x/+861****1234",
		"/13812341234":                     "/138****1234",
	} {
		if got := maskPathPhones(in); got != want {
			t.Errorf("maskPathPhones(%q) = %q, want %q", in, got, want)
		}
	}
}
