package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// browser is one employee's browser: its own cookie jar, kept across
// sign-ins as a real browser keeps the device cookie, and no automatic
// redirects, so every hop of the flow is timed and checked.
type browser struct {
	client *http.Client
}

func newBrowser(transport http.RoundTripper) *browser {
	jar, _ := cookiejar.New(nil) // New never fails without options
	return &browser{client: &http.Client{
		Transport: transport,
		Jar:       jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// page is a response with its body read.
type page struct {
	status int
	header http.Header
	url    *url.URL
	body   string
}

// location is the redirect target resolved against the page's URL, or "".
func (p *page) location() string {
	loc := p.header.Get("Location")
	if loc == "" {
		return ""
	}
	u, err := p.url.Parse(loc)
	if err != nil {
		return loc
	}
	return u.String()
}

func (b *browser) do(req *http.Request) (*page, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", req.Method, req.URL.Path, err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, url: req.URL, body: string(body)}, nil
}

func (b *browser) get(ctx context.Context, u string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

func (b *browser) post(ctx context.Context, u string, form url.Values) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow GETs u and follows redirects while they stay under base (the OP);
// it returns the first page that is not such a redirect: a page of the OP,
// or the redirect that leaves it for the relying party.
func (b *browser) follow(ctx context.Context, base, u string) (*page, error) {
	for range 10 {
		p, err := b.get(ctx, u)
		if err != nil {
			return nil, err
		}
		loc := p.location()
		if p.status < 300 || p.status > 399 || loc == "" || !strings.HasPrefix(loc, base) {
			return p, nil
		}
		u = loc
	}
	return nil, fmt.Errorf("more than 10 redirects from %s", u)
}

// submit fills the form whose action contains action with its hidden and
// pre-filled fields (the CSRF token among them) plus values, and posts it.
func (b *browser) submit(ctx context.Context, p *page, action string, values map[string]string) (*page, error) {
	form, target, err := parseForm(p, action)
	if err != nil {
		return nil, err
	}
	for k, v := range values {
		form.Set(k, v)
	}
	return b.post(ctx, target, form)
}

// parseForm returns the named inputs of the first form whose action
// contains action, and the absolute URL it posts to.
func parseForm(p *page, action string) (url.Values, string, error) {
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		return nil, "", fmt.Errorf("parse %s: %w", p.url.Path, err)
	}
	form := find(doc, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "form" && strings.Contains(attr(n, "action"), action)
	})
	if form == nil {
		return nil, "", fmt.Errorf("%w: no form %q on %s (status %d)", errUnexpectedPage, action, p.url.Path, p.status)
	}
	values := url.Values{}
	walk(form, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			values.Set(attr(n, "name"), attr(n, "value"))
		}
	})
	target, err := p.url.Parse(attr(form, "action"))
	if err != nil {
		return nil, "", fmt.Errorf("form action on %s: %w", p.url.Path, err)
	}
	return values, target.String(), nil
}

// elementText returns the text inside the element with the given id, or "".
func elementText(p *page, id string) string {
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		return ""
	}
	n := find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && attr(n, "id") == id })
	if n == nil {
		return ""
	}
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if found := find(c, match); found != nil {
			return found
		}
	}
	return nil
}
