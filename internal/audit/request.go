package audit

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type requestKey struct{}

type requestInfo struct {
	ip        string
	userAgent string
}

// WithRequest returns ctx carrying the client's IP and user agent, which
// Record puts on events that do not set their own. It lets code below the
// HTTP layer (the OIDC library's storage calls) record where a request
// came from without seeing the request.
func WithRequest(ctx context.Context, ip, userAgent string) context.Context {
	return context.WithValue(ctx, requestKey{}, requestInfo{ip: ip, userAgent: userAgent})
}

// Middleware puts the client's IP and user agent on every request's
// context. The IP is the socket peer, unless the peer is one of the
// trusted proxies: then it is the right-most X-Forwarded-For entry that is
// not a trusted proxy, the rule the login pages apply too, so a client
// cannot choose the address it is recorded under.
func Middleware(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := WithRequest(r.Context(), ClientIP(r, trusted), r.UserAgent())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ClientIP returns the client address of r under the trusted proxies.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled hop: the proxy before it is the last we can name
		}
		hop = hop.Unmap()
		if !isTrusted(hop, trusted) {
			return hop.String()
		}
		peer = hop
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
