package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// balancer is a plain round robin over the live nodes, as a load
// balancer in front of several asnidp processes is. A node whose
// connection fails is taken out at once (passive health check): the
// requests it had in flight fail, the next ones go to the others.
type balancer struct {
	nodes []*node
	next  atomic.Uint64
	// failed counts requests answered 502 because their node went away.
	failed atomic.Int64
}

func newBalancer(nodes []*node) *balancer {
	b := &balancer{nodes: nodes}
	for _, n := range nodes {
		target, _ := url.Parse(n.url) // built by us from 127.0.0.1:port
		p := httputil.NewSingleHostReverseProxy(target)
		p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			n.down.Store(true)
			b.failed.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		}
		n.proxy = p
	}
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for range len(b.nodes) {
		n := b.nodes[b.next.Add(1)%uint64(len(b.nodes))]
		if !n.down.Load() {
			n.proxy.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "no live node", http.StatusBadGateway)
}
