package egress

import "net/netip"

// specialBlock is an address range a sandbox must not reach unless a
// prefix rule names it (or a part of it).
type specialBlock struct {
	prefix netip.Prefix
	kind   string // completes "ADDR is ..."
}

// specialBlocks is the IANA special-purpose registry (RFC 6890 and
// successors), trimmed to the ranges that are not globally reachable, plus
// the IPv6 forms that embed an IPv4 address. Order matters only where
// ranges nest: the first match names the kind.
var specialBlocks = []specialBlock{
	{mustPrefix("0.0.0.0/8"), "unspecified (this network)"},
	{mustPrefix("10.0.0.0/8"), "private"},
	{mustPrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{mustPrefix("127.0.0.0/8"), "loopback"},
	{mustPrefix("169.254.0.0/16"), "link-local"},
	{mustPrefix("172.16.0.0/12"), "private"},
	{mustPrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{mustPrefix("192.0.2.0/24"), "reserved (documentation)"},
	{mustPrefix("192.88.99.0/24"), "reserved (6to4 relay anycast)"},
	{mustPrefix("192.168.0.0/16"), "private"},
	{mustPrefix("198.18.0.0/15"), "reserved (benchmarking)"},
	{mustPrefix("198.51.100.0/24"), "reserved (documentation)"},
	{mustPrefix("203.0.113.0/24"), "reserved (documentation)"},
	{mustPrefix("224.0.0.0/4"), "multicast"},
	{mustPrefix("255.255.255.255/32"), "broadcast"},
	{mustPrefix("240.0.0.0/4"), "reserved"},

	{mustPrefix("::/128"), "unspecified"},
	{mustPrefix("::1/128"), "loopback"},
	// ::ffff:0:0/96 never reaches the table: addresses are unmapped first.
	{mustPrefix("::/96"), "IPv4-compatible (deprecated)"},
	{mustPrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{mustPrefix("100::/64"), "discard-only"},
	{mustPrefix("2001::/32"), "Teredo"},
	{mustPrefix("2001:2::/48"), "reserved (benchmarking)"},
	{mustPrefix("2001:10::/28"), "reserved (ORCHID)"},
	{mustPrefix("2001:db8::/32"), "reserved (documentation)"},
	{mustPrefix("2002::/16"), "6to4"},
	{mustPrefix("3fff::/20"), "reserved (documentation)"},
	{mustPrefix("5f00::/16"), "reserved (SRv6 SIDs)"},
	{mustPrefix("fc00::/7"), "unique-local"},
	{mustPrefix("fe80::/10"), "link-local"},
	{mustPrefix("fec0::/10"), "site-local (deprecated)"},
	{mustPrefix("ff00::/8"), "multicast"},
}

// nat64 is the well-known NAT64 prefix: 64:ff9b::a9fe:a9fe reaches
// 169.254.169.254 through a translator, so the embedded address decides.
var nat64 = mustPrefix("64:ff9b::/96")

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// special reports whether a is an address a sandbox must not reach by
// default, which kind it is, and the block a prefix rule has to lie inside
// to open it. a must be unmapped (no ::ffff:a.b.c.d) and without a zone.
func special(a netip.Addr) (kind string, block netip.Prefix, ok bool) {
	if nat64.Contains(a) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if k, _, ok := special(v4); ok {
			// Only a rule naming this exact address opens it.
			return "the NAT64 form of a " + k + " address", netip.PrefixFrom(a, 128), true
		}
		return "", netip.Prefix{}, false
	}
	for _, s := range specialBlocks {
		if s.prefix.Contains(a) {
			return s.kind, s.prefix, true
		}
	}
	return "", netip.Prefix{}, false
}
