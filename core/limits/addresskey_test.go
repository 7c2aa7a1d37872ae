package limits

import (
	"context"
	"net/netip"
	"testing"

	"legacyauth/core"
)

type client struct {
	ip   string
	addr netip.Addr
}

func (c client) ClientAddress() (string, netip.Addr) { return c.ip, c.addr }
func (c client) ClientDialect() string               { return "v1" }

// The address keys: IPv4 (mapped or not) as dotted text and no backstop;
// IPv6 by its /56, with its /48 as backstop; "unknown" without an
// address. The recorded text is reused only when it is the key's own text.
func TestAddressKeys(t *testing.T) {
	withClient := func(ip string) context.Context {
		a, _ := netip.ParseAddr(ip)
		return core.WithClient(context.Background(), client{ip, a})
	}
	for _, c := range []struct {
		ctx            context.Context
		addr, backstop string
	}{
		{withClient("192.0.2.7"), "192.0.2.7", ""},
		{withClient("::ffff:192.0.2.7"), "192.0.2.7", ""},
		{withClient("2001:db8:1:2ab:3:4:5:6"), "2001:db8:1:200::/56", "2001:db8:1::/48"},
		{withClient("2001:db8:1:200::"), "2001:db8:1:200::/56", "2001:db8:1::/48"},
		{withClient("2001:db8:1:2ff:ffff:ffff:ffff:ffff"), "2001:db8:1:200::/56", "2001:db8:1::/48"},
		{withClient("2001:db8:1:300::1"), "2001:db8:1:300::/56", "2001:db8:1::/48"},
		{withClient("2001:db8:2::1"), "2001:db8:2::/56", "2001:db8:2::/48"},
		{core.WithClientIP(context.Background(), "192.0.2.8"), "192.0.2.8", ""},
		{core.WithClientIP(context.Background(), "::ffff:192.0.2.8"), "192.0.2.8", ""},
		{core.WithClientIP(context.Background(), "2001:db8:1:2ab::9"), "2001:db8:1:200::/56", "2001:db8:1::/48"},
		{core.WithClientIP(context.Background(), "not an address"), "unknown", ""},
		{core.WithClient(context.Background(), client{"something else", netip.MustParseAddr("192.0.2.9")}), "192.0.2.9", ""},
		{context.Background(), "unknown", ""},
	} {
		addr, backstop := addressKeys(c.ctx)
		if addr != c.addr || backstop != c.backstop {
			t.Errorf("addressKeys(%v) = %q, %q; want %q, %q", c.ctx, addr, backstop, c.addr, c.backstop)
		}
	}
	ctx := withClient("255.255.255.255")
	if n := testing.AllocsPerRun(100, func() { addressKeys(ctx) }); n != 0 {
		t.Errorf("addressKeys of a recorded IPv4 address allocates %v times", n)
	}
}
