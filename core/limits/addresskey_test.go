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

// The address key: IPv4 (mapped or not) as dotted text, IPv6 by its /64,
// "unknown" without an address; the recorded text is reused only when it
// is the key's own text.
func TestAddressKey(t *testing.T) {
	withClient := func(ip string) context.Context {
		a, _ := netip.ParseAddr(ip)
		return core.WithClient(context.Background(), client{ip, a})
	}
	for _, c := range []struct {
		ctx  context.Context
		want string
	}{
		{withClient("192.0.2.7"), "192.0.2.7"},
		{withClient("::ffff:192.0.2.7"), "192.0.2.7"},
		{withClient("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64"},
		{core.WithClientIP(context.Background(), "192.0.2.8"), "192.0.2.8"},
		{core.WithClientIP(context.Background(), "::ffff:192.0.2.8"), "192.0.2.8"},
		{core.WithClientIP(context.Background(), "not an address"), "unknown"},
		{core.WithClient(context.Background(), client{"something else", netip.MustParseAddr("192.0.2.9")}), "192.0.2.9"},
		{context.Background(), "unknown"},
	} {
		if got := addressKey(c.ctx); got != c.want {
			t.Errorf("addressKey(%v) = %q, want %q", c.ctx, got, c.want)
		}
	}
	ctx := withClient("255.255.255.255")
	if n := testing.AllocsPerRun(100, func() { addressKey(ctx) }); n != 0 {
		t.Errorf("addressKey of a recorded IPv4 address allocates %v times", n)
	}
}
