// Package egress is the allow-list proxy that is a sandbox's only way out.
//
// A sandbox's network namespace has only loopback. The host opens a
// listener inside it (say 127.0.0.1:9080), points HTTP_PROXY and
// HTTPS_PROXY there, and hands the listener to a Proxy, which serves it
// from the host: the proxy's own lookups and dials happen in the host's
// network, under the function's allow-list (policy.Rule).
//
// The proxy speaks HTTP/1.1: absolute-form requests ("GET http://host/")
// are forwarded with hop-by-hop headers and Proxy-Authorization removed and
// the response passed back as it came (a redirect goes back to the client,
// which has to ask again and be checked again), and CONNECT opens a byte
// tunnel (TLS is never terminated). Every request on a keep-alive
// connection is checked on its own. Protocol upgrades are not forwarded:
// WebSockets go through CONNECT like HTTPS.
//
// A target is allowed as follows. An IP literal must be written the
// standard way (dotted quad, or plain IPv6 in brackets): decimal, octal,
// hex, short, IPv4-mapped, zoned and trailing-dot forms are refused as
// non-canonical rather than interpreted, and only a prefix rule allows a
// literal. A name is allowed by a matching name rule or, address by
// address, by a prefix rule covering what it resolves to; a name no rule
// could allow is not even looked up. The proxy resolves names itself and
// dials the checked address, never the name.
//
// Special addresses (loopback, private, link-local and the metadata
// service, CGNAT, unique-local, multicast, reserved, and IPv6 forms that
// embed IPv4: IPv4-compatible, NAT64 of a special address, 6to4, Teredo)
// are refused unless a prefix rule lying inside that special block names
// them: "10.1.0.0/16" opens part of 10/8, "0.0.0.0/0" does not. A name
// rule never opens one, so a listed name that resolves to 127.0.0.1 (DNS
// rebinding) is refused. The dialer's Control hook repeats this check on
// the address actually being connected to.
//
// Limits: MaxConns requests and tunnels at once (more get 503), a total
// byte budget for the proxy's life (past it every connection is cut), an
// idle timeout on tunnels, a cap on request header size. Refusals are 403
// with a one-line plain-text reason, malformed requests 400, unreachable
// upstreams 502. Every decision goes to Options.Log; only requests net/http
// cannot parse (answered 400 or 431 before any decision) are not logged.
package egress
