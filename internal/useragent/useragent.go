// Package useragent names the browser and operating system in a
// User-Agent header, so that the account page can say where an employee
// is signed in ("Chrome 126 di Android 14").
//
// It is a short, hand-written table of the browsers and systems employees
// use (Chrome, Edge, Firefox, Safari, Samsung Internet, Opera, UC Browser,
// Mi Browser and a few others on Android, iOS, Windows, macOS, Linux and
// ChromeOS) rather than a parsing library: the page needs a name a person
// recognises, not a device database, and the one small library the module
// proxy serves for this Go version brings a dependency and a start-up
// trie for coverage this page would not use. A header it does not know
// gives empty names, which the page shows as an unknown device; the header
// itself is the browser's claim and proves nothing.
package useragent

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLength bounds what is stored and parsed of a header: real ones are
// far shorter, and a longer one is cut, not refused.
const MaxLength = 512

// Agent is what a header says about the browser.
type Agent struct {
	// Browser is the browser's name with its major version ("Chrome 126"),
	// or only the name when it gives no version; "" when unknown.
	Browser string
	// OS is the system's name, with its major version where the header
	// states it reliably ("Android 14", "iOS 17"); "" when unknown.
	OS string
}

// browsers are tried in order: many headers name several browsers
// (Edge says "Chrome/… Safari/… Edg/…"), so the more specific come first.
// token is what precedes the version ("Edg/126.0" → "Edg/").
var browsers = []struct{ token, name string }{
	{"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edg/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"OPT/", "Opera"}, {"OPiOS/", "Opera"}, {"Opera/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"UCBrowser/", "UC Browser"},
	{"MiuiBrowser/", "Mi Browser"},
	{"HeyTapBrowser/", "HeyTap"},
	{"YaBrowser/", "Yandex Browser"},
	{"Vivaldi/", "Vivaldi"},
	{"FxiOS/", "Firefox"}, {"Firefox/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
	{"MSIE ", "Internet Explorer"}, {"Trident/", "Internet Explorer"},
}

// Parse reads the browser and system from a User-Agent header.
func Parse(header string) Agent {
	ua := Clip(header)
	return Agent{Browser: browser(ua), OS: system(ua)}
}

func browser(ua string) string {
	for _, b := range browsers {
		if i := strings.Index(ua, b.token); i >= 0 {
			if b.token == "Trident/" { // IE 11 gives its version as rv:
				return withVersion(b.name, ua, "rv:")
			}
			return withVersion(b.name, ua[i:], b.token)
		}
	}
	// Safari gives its own version after "Version/"; what follows
	// "Safari/" is the WebKit build.
	if strings.Contains(ua, "Safari/") && (strings.Contains(ua, "Macintosh") || strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad")) {
		return withVersion("Safari", ua, "Version/")
	}
	return ""
}

func system(ua string) string {
	switch {
	case strings.Contains(ua, "HarmonyOS"): // says "Android" too
		return "HarmonyOS"
	case strings.Contains(ua, "KAIOS"):
		return "KaiOS"
	case strings.Contains(ua, "Windows Phone"):
		return "Windows Phone"
	case strings.Contains(ua, "Android"):
		return withVersion("Android", ua, "Android ")
	case strings.Contains(ua, "iPad"):
		return withVersion("iPadOS", ua, "CPU OS ")
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPod"):
		return withVersion("iOS", ua, "iPhone OS ")
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS"
	case strings.Contains(ua, "Windows"):
		// Windows 11 still says "Windows NT 10.0": the version would lie.
		return "Windows"
	case strings.Contains(ua, "Macintosh"), strings.Contains(ua, "Mac OS X"):
		return "macOS"
	case strings.Contains(ua, "Linux"), strings.Contains(ua, "X11"):
		return "Linux"
	}
	return ""
}

// withVersion appends the major version that follows token in s, if
// there is one.
func withVersion(name, s, token string) string {
	i := strings.Index(s, token)
	if i < 0 {
		return name
	}
	rest := s[i+len(token):]
	n := 0
	for n < len(rest) && n < 6 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	major := strings.TrimLeft(rest[:n], "0")
	if major == "" || n == 6 {
		return name
	}
	return name + " " + major
}

// Clip makes a header fit for storing and showing: at most MaxLength
// bytes, cut at a character boundary, without control characters or
// invalid UTF-8.
func Clip(header string) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(header, ""))
	if len(s) <= MaxLength {
		return s
	}
	n := MaxLength
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
