package optest

import (
	"encoding/base32"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// Browser is a cookie-keeping HTTP client that never follows redirects by
// itself, so each step of a flow is visible, and that refuses any address
// outside the loopback range. Like a real browser, it keeps one set of
// cookies per host whatever the port.
type Browser struct {
	t      testing.TB
	client *http.Client
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Page is a fetched response with its body read.
type Page struct {
	Status int
	Header http.Header
	URL    *url.URL
	Body   string
}

// Location is the page's redirect target, resolved against its URL, or "".
func (p *Page) Location() string {
	loc := p.Header.Get("Location")
	if loc == "" {
		return ""
	}
	u, err := p.URL.Parse(loc)
	if err != nil {
		return loc
	}
	return u.String()
}

// Do sends req, refusing any host that is not loopback.
func (b *Browser) Do(req *http.Request) *Page {
	b.t.Helper()
	if !isLoopback(req.URL.Hostname()) {
		b.t.Fatalf("refusing to contact %s: tests talk to loopback addresses only", req.URL.Host)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read %s: %v", req.URL, err)
	}
	return &Page{Status: resp.StatusCode, Header: resp.Header, URL: req.URL, Body: string(body)}
}

// Get fetches u.
func (b *Browser) Get(u string) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Do(req)
}

// Post sends form to u.
func (b *Browser) Post(u string, form url.Values) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

// Follow GETs u and follows every redirect, across hosts and ports, until
// a page is served; it returns that page and the URLs it passed through.
func (b *Browser) Follow(u string) (*Page, []string) {
	b.t.Helper()
	var trail []string
	for range 20 {
		trail = append(trail, u)
		p := b.Get(u)
		if p.Status < 300 || p.Status > 399 || p.Location() == "" {
			return p, trail
		}
		u = p.Location()
	}
	b.t.Fatalf("too many redirects: %v", trail)
	return nil, nil
}

// Submit fills the page's form whose action contains action with its
// hidden and pre-filled fields plus values, and posts it.
func (b *Browser) Submit(p *Page, action string, values map[string]string) *Page {
	b.t.Helper()
	form, target := ParseForm(b.t, p, action)
	for k, v := range values {
		form.Set(k, v)
	}
	return b.Post(target, form)
}

// Cookies returns the cookies the browser would send to u.
func (b *Browser) Cookies(u string) []*http.Cookie {
	parsed, err := url.Parse(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.client.Jar.Cookies(parsed)
}

// ParseForm returns the named inputs of the first form whose action
// contains action, and the absolute URL it posts to.
func ParseForm(t testing.TB, p *Page, action string) (url.Values, string) {
	t.Helper()
	form := find(parse(t, p), func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "form" && strings.Contains(Attr(n, "action"), action)
	})
	if form == nil {
		t.Fatalf("no form with action %q on %s (status %d):\n%s", action, p.URL, p.Status, p.Body)
	}
	values := url.Values{}
	walk(form, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && Attr(n, "name") != "" {
			values.Set(Attr(n, "name"), Attr(n, "value"))
		}
	})
	target, err := p.URL.Parse(Attr(form, "action"))
	if err != nil {
		t.Fatalf("bad form action: %v", err)
	}
	return values, target.String()
}

// Text returns the text of the element with the given id, or "".
func Text(t testing.TB, p *Page, id string) string {
	t.Helper()
	n := find(parse(t, p), func(n *html.Node) bool { return n.Type == html.ElementNode && Attr(n, "id") == id })
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

// Link returns the absolute target of the link with the given id, or "".
func Link(t testing.TB, p *Page, id string) string {
	t.Helper()
	n := find(parse(t, p), func(n *html.Node) bool { return n.Type == html.ElementNode && Attr(n, "id") == id })
	if n == nil || Attr(n, "href") == "" {
		return ""
	}
	u, err := p.URL.Parse(Attr(n, "href"))
	if err != nil {
		t.Fatalf("bad href on %s: %v", p.URL, err)
	}
	return u.String()
}

// Attr returns n's attribute name, or "".
func Attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func parse(t testing.TB, p *Page) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("parse %s: %v", p.URL, err)
	}
	return doc
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

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoginPage reports whether p is the OP's NIP + password page.
func IsLoginPage(p *Page) bool {
	return p.Status == http.StatusOK && strings.Contains(p.Body, `name="password"`) && strings.Contains(p.Body, `name="nip"`)
}

// Login completes the OP's pages for u, starting at its login page: NIP and
// password, then the authenticator code, enrolling the authenticator on
// first use. It follows the redirects after the last step and returns
// where the browser lands (normally a page of the relying party) and the
// URLs it passed through.
func (o *OP) Login(t testing.TB, b *Browser, loginPage *Page, u User) (*Page, []string) {
	t.Helper()
	if !IsLoginPage(loginPage) {
		t.Fatalf("expected the login page, got %s status %d:\n%s", loginPage.URL, loginPage.Status, loginPage.Body)
	}
	done := b.Submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": u.Password})
	if done.Status != http.StatusSeeOther {
		t.Fatalf("password step = %d, want 303:\n%s", done.Status, done.Body)
	}
	factor, _ := b.Follow(done.Location())
	var action string
	switch {
	case strings.Contains(factor.Body, `action="/login/enrol"`):
		seed := seedFromPage(t, factor)
		o.mu.Lock()
		o.seeds[u.NIP] = seed
		o.mu.Unlock()
		action = "/login/enrol"
	case strings.Contains(factor.Body, `action="/login/otp"`):
		action = "/login/otp"
	default:
		t.Fatalf("expected the enrolment or code page, got %s status %d:\n%s", factor.URL, factor.Status, factor.Body)
	}
	done = b.Submit(factor, action, map[string]string{"code": o.Code(t, u.NIP)})
	if IsRecoveryCodesPage(done) {
		o.mu.Lock()
		o.recovery[u.NIP] = RecoveryCodes(done.Body)
		o.mu.Unlock()
		done = b.Submit(done, "/login/recovery/codes", nil)
	}
	if done.Status != http.StatusSeeOther {
		t.Fatalf("%s = %d, want 303:\n%s", action, done.Status, done.Body)
	}
	return b.Follow(done.Location())
}

// IsRecoveryCodesPage reports whether p shows a fresh set of recovery
// codes to save before the login completes.
func IsRecoveryCodesPage(p *Page) bool {
	return p.Status == http.StatusOK && strings.Contains(p.Body, `action="/login/recovery/codes"`)
}

var recoveryCode = regexp.MustCompile(`<li>([0-9]{4} [0-9]{4} [0-9]{4})</li>`)

// RecoveryCodes reads the codes a recovery codes page shows.
func RecoveryCodes(body string) []string {
	var out []string
	for _, m := range recoveryCode.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// RecoveryCodesOf returns the recovery codes the OP last showed nip.
func (o *OP) RecoveryCodesOf(nip string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recovery[nip]
}

// Code returns a code the employee's authenticator shows for a time step
// not used before. The server accepts the current and the next step and
// each step once, so two codes are had at once; a third waits.
func (o *OP) Code(t testing.TB, nip string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	seed := o.seeds[nip]
	if seed == nil {
		t.Fatalf("no authenticator enrolled for %s", nip)
	}
	now := time.Now().Unix() / 30
	step := max(now, o.steps[nip]+1)
	if step > now+1 {
		time.Sleep(time.Until(time.Unix((step-1)*30, 0)))
	}
	o.steps[nip] = step
	return TOTP(seed, step)
}

// seedFromPage reads the manual-entry key from the enrolment page.
func seedFromPage(t testing.TB, p *Page) []byte {
	t.Helper()
	text := Text(t, p, "secret")
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(text, " ", ""))
	if err != nil || len(seed) != 20 {
		t.Fatalf("enrolment page secret %q is not a 160-bit base32 key: %v", text, err)
	}
	return seed
}
