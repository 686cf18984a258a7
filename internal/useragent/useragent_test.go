package useragent

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, header string
		want         Agent
	}{
		{"Chrome on Android",
			"Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36",
			Agent{"Chrome 126", "Android 14"}},
		{"Chrome on Android with reduced UA",
			"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
			Agent{"Chrome 131", "Android 10"}},
		{"Samsung Internet",
			"Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A525F) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
			Agent{"Samsung Internet 25", "Android 13"}},
		{"Mi Browser",
			"Mozilla/5.0 (Linux; U; Android 12; in-id; Redmi Note 10 Build/SKQ1.210908.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/112.0.5615.136 Mobile Safari/537.36 XiaoMi/MiuiBrowser/14.5.5-gn",
			Agent{"Mi Browser 14", "Android 12"}},
		{"UC Browser",
			"Mozilla/5.0 (Linux; U; Android 11; en-US; RMX2185 Build/RP1A.201005.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
			Agent{"UC Browser 13", "Android 11"}},
		{"Opera on Android",
			"Mozilla/5.0 (Linux; Android 12; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 OPR/79.0.4195.76524",
			Agent{"Opera 79", "Android 12"}},
		{"Edge on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
			Agent{"Edge 126", "Windows"}},
		{"Chrome on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			Agent{"Chrome 126", "Windows"}},
		{"Firefox on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
			Agent{"Firefox 128", "Windows"}},
		{"Firefox on Linux",
			"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
			Agent{"Firefox 127", "Linux"}},
		{"Safari on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			Agent{"Safari 17", "macOS"}},
		{"Safari on iPhone",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			Agent{"Safari 17", "iOS 17"}},
		{"Chrome on iPhone",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
			Agent{"Chrome 126", "iOS 17"}},
		{"Firefox on iPad",
			"Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
			Agent{"Firefox 127", "iPadOS 16"}},
		{"Chrome on ChromeOS",
			"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			Agent{"Chrome 126", "ChromeOS"}},
		{"Huawei HarmonyOS",
			"Mozilla/5.0 (Linux; Android 10; HarmonyOS; NOH-NX9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Mobile Safari/537.36",
			Agent{"Chrome 114", "HarmonyOS"}},
		{"Internet Explorer 11",
			"Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
			Agent{"Internet Explorer 11", "Windows"}},
		{"an HTTP library", "Go-http-client/1.1", Agent{}},
		{"curl", "curl/8.5.0", Agent{}},
		{"empty", "", Agent{}},
		{"a version too long to be one", "Mozilla/5.0 (Windows NT 10.0) Chrome/1234567", Agent{"Chrome", "Windows"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Parse(tc.header); got != tc.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.header, got, tc.want)
			}
		})
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", MaxLength) // two bytes each
	tests := []struct {
		name, in string
		want     string
	}{
		{"plain", "Mozilla/5.0 (X11)", "Mozilla/5.0 (X11)"},
		{"control characters", "Mozilla\r\n/5.0\x00\t(X11)", "Mozilla/5.0(X11)"},
		{"invalid UTF-8", "Mozilla\xff/5.0", "Mozilla/5.0"},
		{"too long, cut at a character", long, strings.Repeat("é", MaxLength/2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Clip(tc.in)
			if got != tc.want || len(got) > MaxLength || !utf8.ValidString(got) {
				t.Errorf("Clip(%.40q…) = %.40q… (%d bytes), want %.40q… (%d bytes)", tc.in, got, len(got), tc.want, len(tc.want))
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile Safari/537.36")
	f.Add("Trident/7.0; rv:")
	f.Fuzz(func(t *testing.T, header string) {
		a := Parse(header)
		if len(a.Browser) > 40 || len(a.OS) > 40 {
			t.Errorf("Parse(%q) = %+v: names longer than the table's", header, a)
		}
	})
}
