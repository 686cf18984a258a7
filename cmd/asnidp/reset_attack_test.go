package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"
	"golang.org/x/text/unicode/norm"

	"github.com/asnidp/asnidp/storage"
)

// postWith posts the form of p (hidden fields plus values) with extra
// request headers.
func postWith(t *testing.T, b *browser, p *page, action string, values map[string]string, header http.Header) *page {
	t.Helper()
	form, target := parseForm(t, p, action)
	for k, v := range values {
		form.Set(k, v)
	}
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	host := header.Get("Host")
	if host == "" {
		return b.do(req)
	}
	// The cookie jar files cookies under the Host header a request
	// claims; a browser sends the OP's cookies to the OP's address.
	req.Host = host
	for _, c := range b.client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	plain := *b.client
	plain.Jar = nil
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.client.Jar.SetCookies(req.URL, resp.Cookies())
	return &page{status: resp.StatusCode, header: resp.Header, url: req.URL, body: string(body)}
}

// response is what C1 compares of an answer: everything but the date and
// the random parts (cookie values, CSRF tokens).
func response(p *page) string {
	var hdr []string
	for k, vs := range p.header {
		switch k {
		case "Date":
			continue
		case "Set-Cookie":
			for _, v := range vs {
				name, rest, _ := strings.Cut(v, "=")
				_, attrs, _ := strings.Cut(rest, ";")
				hdr = append(hdr, "Set-Cookie: "+name+"=…;"+attrs)
			}
			continue
		}
		hdr = append(hdr, k+": "+strings.Join(vs, ", "))
	}
	sort.Strings(hdr)
	return fmt.Sprintf("%d\n%s\n\n%s", p.status, strings.Join(hdr, "\n"), scrub(p.body))
}

// C1: an unknown NIP, a known one with the right or a wrong email, one
// without email and a disabled one are answered identically at every step
// (status, body, cookies, headers); only the right email gets a mail.
func TestReset_C1_NoEnumeration(t *testing.T) {
	r := startResetOP(t)
	known := r.addUser(false)
	other := r.addUser(false)
	disabled := r.addUser(true)
	if err := r.db.SetState(t.Context(), r.user(t, disabled.NIP).ID, storage.StateDisabled, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	noEmail := newNIP()
	now := r.clock.Now()
	if err := r.db.CreateUser(t.Context(), &storage.User{ID: uuid.NewString(), NIP: noEmail, Name: "Tanpa Email",
		State: storage.StateProvisioned, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	unknown := newNIP()
	cases := []struct{ name, nip, email string }{
		{"known NIP, registered email", known.NIP, emailOf(known.NIP)},
		{"unknown NIP", unknown, emailOf(unknown)},
		{"known NIP, another email", other.NIP, emailOf(known.NIP)},
		{"known NIP without email", noEmail, emailOf(noEmail)},
		{"disabled NIP, registered email", disabled.NIP, emailOf(disabled.NIP)},
	}
	steps := []string{"NIP", "email", "code page", "wrong code"}
	got := make([][]string, len(cases))
	for i, tc := range cases {
		b := newBrowser(t)
		b.get(r.URL + "/login/reset") // the CSRF cookie, as any visitor has
		got[i] = []string{
			response(r.submitNIP(t, b, "", tc.nip)),
			response(r.submitEmail(t, b, tc.email)),
			response(b.get(r.URL + "/login/reset/code")),
			response(r.submitCode(t, b, "00000000")),
		}
	}
	for i := 1; i < len(cases); i++ {
		for s, step := range steps {
			if got[i][s] != got[0][s] {
				t.Errorf("%s step: %q answers differently from %q:\n--- %s\n%s\n--- %s\n%s",
					step, cases[i].name, cases[0].name, cases[0].name, got[0][s], cases[i].name, got[i][s])
			}
		}
	}
	r.mailedCode(t, emailOf(known.NIP))
	if msgs := r.mail.Messages(); len(msgs) != 1 {
		var to [][]string
		for _, m := range msgs {
			to = append(to, m.To)
		}
		t.Errorf("mails sent to %v, want only the registered address of the known NIP", to)
	}
}

// C2: a captcha that is missing, wrong, reused, shown to another browser,
// solved for another action or expired is refused with one generic
// message, and starts nothing.
func TestReset_C2_Captcha(t *testing.T) {
	r := startResetOP(t, "ASNIDP_CAPTCHA_ENABLED=true", "ASNIDP_CAPTCHA_LOGIN_IP_AFTER=1")
	r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(false)
	b := newBrowser(t)

	fresh := func(b *browser) (*page, string, string) {
		p := b.get(r.URL + "/login/reset")
		form, _ := parseForm(t, p, "/login/reset")
		return p, form.Get("captcha_id"), r.captchaAnswer(t, p)
	}
	wrong := func(answer string) string {
		return strings.Map(func(c rune) rune { return '0' + (c-'0'+1)%10 }, answer)
	}
	var bodies []string
	refused := func(what string, p *page) {
		t.Helper()
		wantMessage(t, what, p, http.StatusUnprocessableEntity, "captcha.wrong")
		if strings.Contains(strings.Join(p.header.Values("Set-Cookie"), ";"), "asnidp_reset=") {
			t.Errorf("%s: a reset was started (Set-Cookie %q)", what, p.header.Values("Set-Cookie"))
		}
		if !hasCaptcha(p) {
			t.Errorf("%s: no new captcha on the refusal", what)
		}
		bodies = append(bodies, scrub(p.body))
	}

	p, _, _ := fresh(b)
	refused("missing", b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha_id": "", "captcha": ""}))
	p, _, answer := fresh(b)
	refused("wrong", b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha": wrong(answer)}))
	p, id, answer := fresh(b)
	refused("guessed after a wrong answer", func() *page {
		b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha": wrong(answer)})
		return b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha_id": id, "captcha": answer})
	}())

	p, id, answer = fresh(b)
	wantRedirect(t, "solved", b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha": answer}), "/login/reset/email")
	p, _, _ = fresh(b)
	refused("reused", b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha_id": id, "captcha": answer}))

	other := newBrowser(t)
	_, otherID, otherAnswer := fresh(other)
	if audio := b.get(r.URL + "/login/captcha/audio?c=" + otherID); audio.status != http.StatusNotFound {
		t.Errorf("audio of another browser's captcha = %d, want 404", audio.status)
	}
	p, _, _ = fresh(b)
	refused("from another browser", b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha_id": otherID, "captcha": otherAnswer}))

	// A captcha the login page showed (after a failure from this IP).
	loginPage := b.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
	failed := b.submit(loginPage, "/login/", map[string]string{"nip": u.NIP, "password": "salah sekali"})
	if !hasCaptcha(failed) {
		t.Fatalf("login page after a failure from this IP shows no captcha:\n%s", failed.body)
	}
	loginForm, _ := parseForm(t, failed, "/login/")
	p, _, _ = fresh(b)
	refused("solved for the login", b.submit(p, "/login/reset", map[string]string{"nip": u.NIP,
		"captcha_id": loginForm.Get("captcha_id"), "captcha": r.captchaAnswer(t, failed)}))

	p, _, answer = fresh(b)
	r.clock.Advance(r.cfg.Captcha.TTL)
	refused("expired", b.submit(p, "/login/reset", map[string]string{"nip": u.NIP, "captcha": answer}))

	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("refusal %d differs from the first:\n%s\n---\n%s", i, bodies[0], bodies[i])
		}
	}
}

// B7: twenty requests for one NIP within a minute get the same answer
// whether or not the NIP exists; one mail goes out per minute and five an
// hour, and each new code voids the one before.
func TestReset_B7_SendLimits(t *testing.T) {
	r := startResetOP(t, "ASNIDP_RESET_IP_REQUESTS_PER_HOUR=1000")
	u := r.addUser(false)
	unknown := newNIP()
	bk, bu := newBrowser(t), newBrowser(t)
	wantRedirect(t, "known NIP step", r.submitNIP(t, bk, "", u.NIP), "/login/reset/email")
	wantRedirect(t, "unknown NIP step", r.submitNIP(t, bu, "", unknown), "/login/reset/email")
	first := r.clock.Now()
	for i := range 20 {
		k := r.submitEmail(t, bk, emailOf(u.NIP))
		x := r.submitEmail(t, bu, emailOf(unknown))
		// The page names the NIP the employee typed.
		if kr, xr := response(k), strings.ReplaceAll(response(x), unknown, u.NIP); kr != xr {
			t.Errorf("request %d: known and unknown NIP answered differently:\n%s\n---\n%s", i+1, kr, xr)
		}
		if i == 0 {
			wantRedirect(t, "first request", k, "/login/reset/code")
			continue
		}
		wantMessage(t, fmt.Sprintf("request %d", i+1), k, http.StatusTooManyRequests, "reset.resend_wait")
		if k.header.Get("Retry-After") == "" || !strings.Contains(k.body, first.Add(time.Minute).In(wib).Format("15:04:05 WIB")) {
			t.Errorf("request %d: no time to retry (Retry-After %q)", i+1, k.header.Get("Retry-After"))
		}
	}
	code1, _ := r.mailedCode(t, emailOf(u.NIP))

	var last string
	for i := 2; i <= 5; i++ {
		r.clock.Advance(time.Minute)
		wantRedirect(t, fmt.Sprintf("send %d", i), r.submitEmail(t, bk, emailOf(u.NIP)), "/login/reset/code")
		last, _ = r.mailedCode(t, emailOf(u.NIP))
	}
	r.clock.Advance(time.Minute)
	sixth := r.submitEmail(t, bk, emailOf(u.NIP))
	wantMessage(t, "sixth send within the hour", sixth, http.StatusTooManyRequests, "reset.resend_wait")
	if !strings.Contains(sixth.body, first.Add(time.Hour).In(wib).Format("15:04:05 WIB")) {
		t.Errorf("sixth send: want retry at the first send plus an hour:\n%s", sixth.body)
	}
	if n := len(r.mail.To(emailOf(u.NIP))); n != 5 {
		t.Errorf("%d mails sent, want 5", n)
	}
	wantMessage(t, "the first code after four newer ones", r.submitCode(t, bk, code1), http.StatusUnauthorized, "reset.code_wrong")
	wantRedirect(t, "the latest code", r.submitCode(t, bk, last), "/login/reset/password")
}

// B6, C3: wrong codes void a code after five tries and raise an alert
// above the hourly rate; a code works only in the flow and for the NIP it
// was sent for, only for 10 minutes, and once even when submitted 20 times
// at once.
func TestReset_B6_C3_CodeChecks(t *testing.T) {
	r := startResetOP(t, "ASNIDP_RESET_ALERT_CODE_FAILURES_PER_HOUR=5")
	a, c, d := r.addUser(false), r.addUser(false), r.addUser(false)
	ba, bb, bc := newBrowser(t), newBrowser(t), newBrowser(t)
	atCode := func(t *testing.T, b *browser, nip, email string) {
		t.Helper()
		wantRedirect(t, "NIP step", r.submitNIP(t, b, "", nip), "/login/reset/email")
		wantRedirect(t, "email step", r.submitEmail(t, b, email), "/login/reset/code")
	}

	t.Run("B6 five wrong codes void it", func(t *testing.T) {
		atCode(t, ba, a.NIP, emailOf(a.NIP))
		code, _ := r.mailedCode(t, emailOf(a.NIP))
		wrong := fmt.Sprintf("%08d", (mustAtoi(t, code)+1)%100_000_000)
		for i := 1; i <= 5; i++ {
			key := "reset.code_wrong"
			if i == 5 {
				key = "reset.code_too_many"
			}
			wantMessage(t, fmt.Sprintf("wrong code %d", i), r.submitCode(t, ba, wrong), http.StatusUnauthorized, key)
		}
		wantMessage(t, "right code after five wrong ones", r.submitCode(t, ba, code), http.StatusUnauthorized, "reset.code_invalid")
		if !strings.Contains(r.logs.String(), "ALERT: wrong reset codes across all employees") {
			t.Error("no alert after the hourly threshold of wrong codes")
		}
		r.clock.Advance(time.Minute)
		wantRedirect(t, "new code", r.submitEmail(t, ba, emailOf(a.NIP)), "/login/reset/code")
		code, _ = r.mailedCode(t, emailOf(a.NIP))
		wantRedirect(t, "the new code", r.submitCode(t, ba, code), "/login/reset/password")
	})

	t.Run("C3 code of another NIP or another flow", func(t *testing.T) {
		atCode(t, bb, c.NIP, emailOf(c.NIP))
		codeC, _ := r.mailedCode(t, emailOf(c.NIP))
		// A minute later, another browser on the same NIP (with a wrong
		// email, so no new code replaces c's) and a browser on another NIP.
		r.clock.Advance(time.Minute)
		atCode(t, bc, c.NIP, "not.mine@example.go.id")
		wantMessage(t, "c's code in another flow of the same NIP", r.submitCode(t, bc, codeC), http.StatusUnauthorized, "reset.code_wrong")
		bd := newBrowser(t)
		atCode(t, bd, d.NIP, emailOf(d.NIP))
		codeD, _ := r.mailedCode(t, emailOf(d.NIP))
		wantMessage(t, "c's code in d's flow", r.submitCode(t, bd, codeC), http.StatusUnauthorized, "reset.code_wrong")
		wantMessage(t, "d's code in c's flow", r.submitCode(t, bb, codeD), http.StatusUnauthorized, "reset.code_wrong")
		wantRedirect(t, "c's code in c's flow", r.submitCode(t, bb, codeC), "/login/reset/password")
	})

	t.Run("C3 expiry after 10 minutes", func(t *testing.T) {
		u := r.addUser(false)
		b := newBrowser(t)
		atCode(t, b, u.NIP, emailOf(u.NIP))
		code, _ := r.mailedCode(t, emailOf(u.NIP))
		r.clock.Advance(r.cfg.Reset.CodeTTL)
		wantMessage(t, "code at 10 minutes", r.submitCode(t, b, code), http.StatusUnauthorized, "reset.code_invalid")
	})

	t.Run("C3 G3 twenty simultaneous right codes", func(t *testing.T) {
		u := r.addUser(false)
		b := newBrowser(t)
		atCode(t, b, u.NIP, emailOf(u.NIP))
		code, _ := r.mailedCode(t, emailOf(u.NIP))
		pg := b.get(r.URL + "/login/reset/code")
		form, target := parseForm(t, pg, "/login/reset/code")
		form.Set("code", code)
		const n = 20
		statuses := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := b.client.Do(req)
				if err != nil {
					statuses[i] = err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
			})
		}
		close(start)
		wg.Wait()
		for _, s := range statuses {
			// This browser's flow is verified once one of them wins; the
			// others find it so or find the code used.
			if s != "303 /login/reset/password" && s != "401 " {
				t.Errorf("simultaneous code answered %q", s)
			}
		}
		if wins := r.logLines("reset code verified", "nip="+u.NIP); wins != 1 {
			t.Errorf("the code was verified %d times by %d simultaneous submissions, want exactly 1", wins, n)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// B4: forwarding headers from a client that is not a trusted proxy move
// nothing (the wrong-code budget of the client IP holds), and every
// spelling of one NIP shares its send limit.
func TestReset_B4_CounterKeys(t *testing.T) {
	r := startResetOP(t, "ASNIDP_RESET_IP_CODE_FAILURES_PER_HOUR=3")
	u := r.addUser(false)
	b := newBrowser(t)
	wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
	code, _ := r.mailedCode(t, emailOf(u.NIP))
	codePage := b.get(r.URL + "/login/reset/code")
	for i := range 4 {
		h := http.Header{}
		h.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		h.Set("X-Real-IP", fmt.Sprintf("198.51.100.%d", i+1))
		h.Set("Forwarded", fmt.Sprintf("for=192.0.2.%d", i+1))
		res := postWith(t, b, codePage, "/login/reset/code", map[string]string{"code": "00000000"}, h)
		if i < 3 {
			wantMessage(t, fmt.Sprintf("wrong code %d", i+1), res, http.StatusUnauthorized, "reset.code_wrong")
		} else {
			wantMessage(t, "wrong code over the IP budget", res, http.StatusTooManyRequests, "reset.too_many_ip")
		}
	}
	h := http.Header{}
	h.Set("X-Forwarded-For", "203.0.113.99")
	res := postWith(t, b, codePage, "/login/reset/code", map[string]string{"code": code}, h)
	wantMessage(t, "right code over the IP budget", res, http.StatusTooManyRequests, "reset.too_many_ip")

	v := r.addUser(false)
	n := v.NIP
	fullWidth := strings.Map(func(c rune) rune { return c - '0' + '０' }, n)
	arabic := strings.Map(func(c rune) rune { return c - '0' + '٠' }, n)
	variants := []string{
		n[:8] + " " + n[8:14] + " " + n[14:15] + " " + n[15:],
		n[:8] + "-" + n[8:14] + "-" + n[14:15] + "-" + n[15:],
		"  " + n + " ",
		fullWidth,
		arabic,
	}
	for i, variant := range variants {
		vb := newBrowser(t)
		wantRedirect(t, fmt.Sprintf("variant %q", variant), r.submitNIP(t, vb, "", variant), "/login/reset/email")
		res := r.submitEmail(t, vb, emailOf(n))
		if i == 0 {
			wantRedirect(t, "first spelling", res, "/login/reset/code")
			continue
		}
		wantMessage(t, fmt.Sprintf("spelling %q within the minute", variant), res, http.StatusTooManyRequests, "reset.resend_wait")
	}
	r.mailedCode(t, emailOf(n))
	if got := len(r.mail.To(emailOf(n))); got != 1 {
		t.Errorf("%d mails for five spellings of one NIP, want 1", got)
	}
}

// C4: whatever host and scheme the request claims, the mail links to the
// configured issuer only.
func TestReset_C4_MailLinksFromConfig(t *testing.T) {
	r := startResetOP(t)
	u := r.addUser(false)
	b := newBrowser(t)
	evil := http.Header{}
	evil.Set("Host", "evil.example.com")
	evil.Set("X-Forwarded-Host", "evil.example.com")
	evil.Set("X-Forwarded-Proto", "https")
	evil.Set("Forwarded", "host=evil.example.com;proto=https")
	start := b.get(r.URL + "/login/reset")
	wantRedirect(t, "NIP step", postWith(t, b, start, "/login/reset", map[string]string{"nip": u.NIP}, evil), "/login/reset/email")
	emailPage := b.get(r.URL + "/login/reset/email")
	wantRedirect(t, "email step", postWith(t, b, emailPage, "/login/reset/email", map[string]string{"email": emailOf(u.NIP)}, evil), "/login/reset/code")
	_, m := r.mailedCode(t, emailOf(u.NIP))
	for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
		if strings.Contains(body, "evil") {
			t.Errorf("the %s part names the attacker's host:\n%s", part, body)
		}
		if !strings.Contains(body, r.URL+"/login/reset") {
			t.Errorf("the %s part lacks the configured link %s/login/reset:\n%s", part, r.URL, body)
		}
	}
}

// C5: a registered address that could smuggle headers or recipients is
// never mailed; an operator is alerted; the employee sees the usual page.
func TestReset_C5_BadRegisteredEmail(t *testing.T) {
	r := startResetOP(t)
	for _, email := range []string{
		"ani@example.go.id\r\nBcc: evil@example.com",
		"ani@example.go.id, evil@example.com",
		"Bcc: evil@example.com",
		strings.Repeat("a", 250) + "@example.go.id",
	} {
		nip := newNIP()
		now := r.clock.Now()
		if err := r.db.CreateUser(t.Context(), &storage.User{ID: uuid.NewString(), NIP: nip, Name: "Ani", Email: email,
			State: storage.StateProvisioned, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t)
		wantRedirect(t, fmt.Sprintf("NIP step (%q)", email), r.submitNIP(t, b, "", nip), "/login/reset/email")
		wantRedirect(t, fmt.Sprintf("email step (%q)", email), r.submitEmail(t, b, email), "/login/reset/code")
		if !strings.Contains(r.logs.String(), "ALERT: the registered email of this account is not a single valid address") ||
			!strings.Contains(r.logs.String(), "nip="+nip) {
			t.Errorf("no operator alert naming NIP %s", nip)
		}
	}
	if n := r.mail.Attempts(); n != 0 {
		t.Errorf("the mail server saw %d recipients, want none", n)
	}
}

// C6: the new password is checked with the account's own details; each
// refusal names its reason; long and Unicode passphrases pass, are
// normalised the same at reset and login, and are not truncated.
func TestReset_C6_PasswordPolicy(t *testing.T) {
	r := startResetOP(t)
	r.addClient("--id", "profil", "--redirect-uri", rpRedirect)
	u := r.addUser(false)
	b := newBrowser(t)
	wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
	code, _ := r.mailedCode(t, emailOf(u.NIP))
	wantRedirect(t, "code step", r.submitCode(t, b, code), "/login/reset/password")

	birth := u.NIP[:4] + "-" + u.NIP[4:6] + "-" + u.NIP[6:8]
	tests := []struct {
		name, pw, confirm, key string
	}{
		{"11 characters", "Tr0ub4dor&3", "", "password.too_short"},
		{"top list", "Password123!", "", "password.common"},
		{"the NIP", "nip " + u.NIP, "", "password.context"},
		{"the birth date", birth + " !!!!", "", "password.context"},
		{"the name", "Siti Rahmawati 2024", "", "password.context"},
		{"the agency", "Pemerintah Kota Bandung 1", "", "password.context"},
		{"the service name", "ASN Digital oke!", "", "password.context"},
		{"129 characters", strings.Repeat("kopi tubruk ", 11)[:129], "", "password.too_long"},
		{"a control character", "kopi tubruk\x00pagi hari", "", "password.invalid"},
		{"confirmation differs", "sawah hijau di lereng merapi", "sawah hijau di lereng merbabu", "reset.password_mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			confirm := tc.confirm
			if confirm == "" {
				confirm = tc.pw
			}
			wantMessage(t, tc.name, r.submitPassword(t, b, tc.pw, confirm), http.StatusUnprocessableEntity, tc.key)
		})
	}
	if got := r.user(t, u.NIP); got.PasswordHash != "" {
		t.Fatal("a refused password was stored")
	}

	// 64 runes, accents composed (NFC); the login types them decomposed.
	pass := "Kopi susu di Café Lembang, hujan turun — semua baik-baik saja ✓"
	pass = pass + strings.Repeat("!", 64-len([]rune(pass)))
	if n := len([]rune(pass)); n != 64 {
		t.Fatalf("passphrase has %d runes", n)
	}
	wantRedirect(t, "64-rune Unicode passphrase", r.submitPassword(t, b, norm.NFC.String(pass), norm.NFC.String(pass)), "/login/reset/done")
	login := func(pw string) *page {
		lb := newBrowser(t)
		lp := lb.follow(r.URL, authorizeURL(r.URL, authorizeParams(newPKCE())))
		return lb.submit(lp, "/login/", map[string]string{"nip": u.NIP, "password": pw})
	}
	if res := login(string([]rune(pass)[:63])); res.status != http.StatusUnauthorized {
		t.Errorf("login with the passphrase minus its last character = %d, want 401 (no truncation)", res.status)
	}
	if res := login(norm.NFD.String(pass)); res.status != http.StatusSeeOther {
		t.Errorf("login with the passphrase decomposed (NFD) = %d, want 303", res.status)
	}
}

// F2: hostile values in the email, code and password fields are refused
// or counted, never a server error; a 10 MB field is refused before any
// work.
func TestReset_F2_HostileFields(t *testing.T) {
	r := startResetOP(t, "ASNIDP_RESET_IP_CODE_FAILURES_PER_HOUR=100")
	u := r.addUser(false)
	b := newBrowser(t)
	hostile := []string{"", "\x00", "\xff\xfe\xfd", "\u202e12345678", "%", "_", "%_%", "00000000", "123 456", "1234 5678",
		"' OR 1=1 --", strings.Repeat("9", 5000)}
	huge := strings.Repeat("A", 10<<20)

	wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
	for _, v := range append(slices.Clone(hostile), huge) {
		res := r.submitEmail(t, b, v)
		if res.status >= 500 || (res.status != http.StatusSeeOther && res.status != http.StatusTooManyRequests && res.status != http.StatusRequestEntityTooLarge) {
			t.Errorf("email %.20q = %d, want a normal answer", v, res.status)
		}
	}
	if res := r.submitCode(t, b, huge); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("10 MB code = %d, want 413", res.status)
	}
	for _, v := range hostile {
		if res := r.submitCode(t, b, v); res.status != http.StatusUnauthorized {
			t.Errorf("code %.20q = %d, want 401", v, res.status)
		}
	}

	// A code for the password step.
	r.clock.Advance(time.Minute)
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
	code, _ := r.mailedCode(t, emailOf(u.NIP))
	wantRedirect(t, "code step", r.submitCode(t, b, code), "/login/reset/password")
	for _, v := range append(slices.Clone(hostile), "correct horse\u200bbattery staple") {
		res := r.submitPassword(t, b, v, v)
		if res.status != http.StatusUnprocessableEntity {
			t.Errorf("password %.20q = %d, want 422 with a policy message", v, res.status)
		}
	}
	if res := r.submitPassword(t, b, huge, huge); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("10 MB password = %d, want 413", res.status)
	}
	if got := r.user(t, u.NIP); got.PasswordHash != "" {
		t.Error("a hostile password was stored")
	}
}

// F4: names, typed NIPs and other text reach pages and mails escaped.
func TestReset_F4_Escaping(t *testing.T) {
	r := startResetOP(t)
	const name = `<script>alert("x")</script> O'Brien {{.Secret}}`
	nip := newNIP()
	r.mustCLI("", "user", "add", "--nip", nip, "--name", name, "--email", emailOf(nip))
	b := newBrowser(t)
	start := b.get(r.URL + "/login/reset")
	bad := b.submit(start, "/login/reset", map[string]string{"nip": `<script>x</script>`})
	if bad.status != http.StatusUnprocessableEntity || strings.Contains(bad.body, "<script>x") || !strings.Contains(bad.body, "&lt;script&gt;x") {
		t.Errorf("typed NIP not escaped (status %d):\n%s", bad.status, bad.body)
	}
	wantRedirect(t, "NIP step", r.submitNIP(t, b, "", nip), "/login/reset/email")
	wantRedirect(t, "email step", r.submitEmail(t, b, `<script>"x"</script>`+emailOf(nip)), "/login/reset/code")
	r.clock.Advance(time.Minute)
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(nip)), "/login/reset/code")
	_, m := r.mailedCode(t, emailOf(nip))
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; O&#39;Brien {{.Secret}}") {
		t.Errorf("name not escaped in the HTML mail:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, name) {
		t.Errorf("the text mail should carry the name as it is (plain text):\n%s", m.Text)
	}
	if m.Header.Get("Bcc") != "" || len(m.To) != 1 {
		t.Errorf("mail headers changed by the name: To %v, Bcc %q", m.To, m.Header.Get("Bcc"))
	}
}

// logLines counts the server log lines holding every one of parts.
func (r *resetOP) logLines(parts ...string) int {
	n := 0
	for _, line := range strings.Split(r.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// waitLog waits until the server log holds n lines with s.
func (r *resetOP) waitLog(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for strings.Count(r.logs.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log never showed %q %d times", s, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPage reloads the code page of b until ok(page) holds.
func (r *resetOP) waitPage(t *testing.T, b *browser, what string, ok func(*page) bool) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		if p := b.get(r.URL + "/login/reset/code"); ok(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the code page never showed %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// H5: a hanging, refusing or absent mail server never holds up the page;
// mail is retried a bounded number of times, a code's life counts from
// when it was issued, a mail that could not be sent does not count as
// sent, and while the server is down the page says so. No code reaches
// the log.
func TestReset_H5_MailServerFaults(t *testing.T) {
	r := startResetOP(t, "ASNIDP_MAIL_ATTEMPTS=2", "ASNIDP_MAIL_SMTP_TIMEOUT=60s")
	var codes []string

	t.Run("hanging", func(t *testing.T) {
		u := r.addUser(false)
		b := newBrowser(t)
		wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
		r.mail.Hang()
		// The browser gives up after 30 s, the mail server holds the
		// connection for 60 s: only a page that does not wait answers.
		wantRedirect(t, "email step while the server hangs", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
		r.clock.Advance(9 * time.Minute)
		r.mail.Release()
		code, _ := r.mailedCode(t, emailOf(u.NIP))
		codes = append(codes, code)
		r.clock.Advance(time.Minute)
		wantMessage(t, "code delivered late, 10 minutes after issue", r.submitCode(t, b, code), http.StatusUnauthorized, "reset.code_invalid")
	})

	t.Run("rejecting", func(t *testing.T) {
		u := r.addUser(false)
		b := newBrowser(t)
		wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
		before := strings.Count(r.logs.String(), "mail not delivered; giving up")
		r.mail.Reject(true)
		wantRedirect(t, "email step while the server refuses", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
		r.waitLog(t, "mail not delivered; giving up", before+1)
		r.waitLog(t, "the code is void and does not count as sent", 1)
		r.mail.Reject(false)
		// Within the minute, yet not refused: the failed send did not count.
		wantRedirect(t, "email step again", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
		code, _ := r.mailedCode(t, emailOf(u.NIP))
		codes = append(codes, code)
		wantRedirect(t, "delivered code", r.submitCode(t, b, code), "/login/reset/password")
	})

	t.Run("down", func(t *testing.T) {
		u := r.addUser(false)
		b := newBrowser(t)
		wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
		before := strings.Count(r.logs.String(), "the code is void and does not count as sent")
		r.mail.Stop()
		wantRedirect(t, "email step as the server goes down", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
		r.waitLog(t, "the code is void and does not count as sent", before+1)
		unavailable := indonesian(t, "reset.mail_unavailable")
		r.waitPage(t, b, "that mail cannot be sent", func(p *page) bool { return strings.Contains(p.body, unavailable) })
		wantMessage(t, "email step while the server is down", r.submitEmail(t, b, emailOf(u.NIP)), http.StatusServiceUnavailable, "reset.mail_unavailable")
		r.mail.Restart()
		r.waitPage(t, b, "that mail works again", func(p *page) bool { return !strings.Contains(p.body, unavailable) })
		wantRedirect(t, "email step once the server is back", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
		code, _ := r.mailedCode(t, emailOf(u.NIP))
		codes = append(codes, code)
	})

	logs := r.logs.String()
	for _, code := range codes {
		if strings.Contains(logs, code) {
			t.Errorf("the log contains the code %s", code)
		}
	}
}

// The reset pages are plain forms: a label for every field, the standard
// autocomplete tokens, a CSRF token, one submit button, and the headers
// of an auth page (docs/security.md, E6).
func TestReset_Pages(t *testing.T) {
	r := startResetOP(t, "ASNIDP_CAPTCHA_ENABLED=true")
	u := r.addUser(false)
	b := newBrowser(t)
	pages := map[string]*page{"start": b.get(r.URL + "/login/reset")}
	wantRedirect(t, "NIP step", r.submitNIP(t, b, "", u.NIP), "/login/reset/email")
	pages["email"] = b.get(r.URL + "/login/reset/email")
	wantRedirect(t, "email step", r.submitEmail(t, b, emailOf(u.NIP)), "/login/reset/code")
	pages["code"] = b.get(r.URL + "/login/reset/code")
	code, _ := r.mailedCode(t, emailOf(u.NIP))
	wantRedirect(t, "code step", r.submitCode(t, b, code), "/login/reset/password")
	pages["password"] = b.get(r.URL + "/login/reset/password")
	pages["done"] = b.get(r.URL + "/login/reset/done")
	wantAutocomplete := map[string]string{"nip": "username", "captcha": "off", "email": "email", "code": "one-time-code",
		"password": "new-password", "confirm": "new-password"}

	for name, p := range pages {
		if p.status != http.StatusOK {
			t.Errorf("%s page = %d", name, p.status)
			continue
		}
		for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
			if got := p.header.Get(k); got != want {
				t.Errorf("%s page %s = %q, want %q", name, k, got, want)
			}
		}
		if !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s page CSP %q", name, p.header.Get("Content-Security-Policy"))
		}
		if strings.Contains(p.body, emailOf(u.NIP)) {
			t.Errorf("%s page shows the registered email", name)
		}
		doc, err := html.Parse(strings.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		labels, inputs, buttons, csrf := map[string]bool{}, []*html.Node{}, 0, false
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				switch n.Data {
				case "label":
					labels[attr(n, "for")] = true
				case "input":
					if attr(n, "type") == "hidden" {
						csrf = csrf || attr(n, "name") == "csrf"
					} else {
						inputs = append(inputs, n)
					}
				case "button":
					if attr(n, "type") != "button" { // a show-password toggle submits nothing
						buttons++
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if name == "done" {
			continue
		}
		if !csrf || buttons != 1 || len(inputs) == 0 {
			t.Errorf("%s page: csrf %v, %d buttons, %d fields; want a CSRF token, one button and fields", name, csrf, buttons, len(inputs))
		}
		for _, in := range inputs {
			field := attr(in, "name")
			if !labels[attr(in, "id")] {
				t.Errorf("%s page: field %s has no label", name, field)
			}
			if got := attr(in, "autocomplete"); got != wantAutocomplete[field] {
				t.Errorf("%s page: field %s autocomplete %q, want %q", name, field, got, wantAutocomplete[field])
			}
		}
	}
	for name, word := range map[string]string{"start": ">CEK<", "email": ">Kirim Kode<", "password": ">Reset Password<"} {
		if !strings.Contains(pages[name].body, word) {
			t.Errorf("%s page lacks the announced button %s", name, word)
		}
	}
	// E5: every step refuses a post without this browser's CSRF token.
	for _, path := range []string{"/login/reset", "/login/reset/email", "/login/reset/code", "/login/reset/password"} {
		if res := b.post(r.URL+path, url.Values{"nip": {u.NIP}, "email": {emailOf(u.NIP)}, "code": {code}}); res.status != http.StatusForbidden {
			t.Errorf("POST %s without the CSRF token = %d, want 403", path, res.status)
		}
	}
	// An English browser still gets the announced Indonesian words; the
	// language link switches to English.
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/login/reset", nil)
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	if id := b.do(req); !strings.Contains(id.body, `lang="id"`) || !strings.Contains(id.body, ">CEK<") {
		t.Errorf("reset page for an en-US browser is not Indonesian:\n%s", id.body)
	}
	if en := b.get(r.URL + "/login/reset?lang=en"); !strings.Contains(en.body, `lang="en"`) || !strings.Contains(en.body, "To reset your password") {
		t.Errorf("English reset page:\n%s", en.body)
	}
}

// wib is Western Indonesia Time, the zone pages show retry times in.
var wib = time.FixedZone("WIB", 7*60*60)
