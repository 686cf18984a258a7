package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoad_AdminDefaults(t *testing.T) {
	c, err := Load(writeConfig(t, "issuer: https://sso.example.go.id\nmaster_key: x\n"), nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if want := (Admin{Listen: "", StepUp: 10 * time.Minute, MaxUpload: 50 * MiB, ImportWait: 2 * time.Second}); c.Admin != want {
		t.Errorf("admin defaults = %+v, want %+v (served at /admin, step-up 10 min, 50 MiB uploads)", c.Admin, want)
	}
}

func TestLoad_AdminFileAndEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    Admin
	}{
		{"file", "admin:\n  listen: 10.0.0.5:9443\n  step_up: 5m\n  max_upload: 100MiB\n", nil,
			Admin{Listen: "10.0.0.5:9443", StepUp: 5 * time.Minute, MaxUpload: 100 * MiB, ImportWait: 2 * time.Second}},
		{"bytes as a number", "admin:\n  max_upload: 2097152\n", nil, Admin{StepUp: 10 * time.Minute, MaxUpload: 2 * MiB, ImportWait: 2 * time.Second}},
		{"decimal units", "admin:\n  max_upload: 20 MB\n", nil, Admin{StepUp: 10 * time.Minute, MaxUpload: 20_000_000, ImportWait: 2 * time.Second}},
		{"environment wins", "admin:\n  max_upload: 100MiB\n",
			[]string{"ASNIDP_ADMIN_MAX_UPLOAD=1GiB", "ASNIDP_ADMIN_STEP_UP=1h", "ASNIDP_ADMIN_LISTEN=127.0.0.1:9090"},
			Admin{Listen: "127.0.0.1:9090", StepUp: time.Hour, MaxUpload: GiB, ImportWait: 2 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, "issuer: https://sso.example.go.id\nmaster_key: x\n"+tc.yaml), tc.environ)
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if c.Admin != tc.want {
				t.Errorf("admin = %+v, want %+v", c.Admin, tc.want)
			}
		})
	}
}

// Every bad console setting is named by its key, with what it must be, and
// a size that does not parse is quoted once.
func TestLoad_AdminProblems(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    []string
	}{
		{"listen not host:port", "admin:\n  listen: admin.example\n", nil,
			[]string{`admin.listen: must be host:port, or empty to serve the console at /admin on listen; got "admin.example"`}},
		{"listen is the main listener", "listen: 0.0.0.0:8080\nadmin:\n  listen: 0.0.0.0:8080\n", nil,
			[]string{"admin.listen: must differ from listen (0.0.0.0:8080)"}},
		{"step-up too short and upload too small", "admin:\n  step_up: 10s\n  max_upload: 512KiB\n", nil,
			[]string{"admin.step_up: must be between 1m0s and 1h0m0s, got 10s", "admin.max_upload: must be between 1MiB and 1GiB, got 512KiB"}},
		{"step-up too long and upload too large", "admin:\n  step_up: 2h\n  max_upload: 2GiB\n", nil,
			[]string{"admin.step_up: must be between", "admin.max_upload: must be between 1MiB and 1GiB, got 2GiB"}},
		{"negative step-up", "admin:\n  step_up: -1m\n", nil, []string{"admin.step_up: must be between"}},
		{"import wait too long", "admin:\n  import_wait: 5m\n", nil, []string{"admin.import_wait: must be between 0s and 1m0s, got 5m0s"}},
		{"size without a number", "admin:\n  max_upload: lots\n", nil,
			[]string{`admin.max_upload: "lots" is not a size (write it like 50MiB, 512KiB or 1048576)`}},
		{"size of an unknown unit", "admin:\n  max_upload: 50 megs\n", nil, []string{`admin.max_upload: "50 megs" is not a size`}},
		{"negative size", "admin:\n  max_upload: -5MiB\n", nil, []string{`admin.max_upload: "-5MiB" is not a size`}},
		{"bad size from the environment", "", []string{"ASNIDP_ADMIN_MAX_UPLOAD=fifty"}, []string{`"fifty" is not a size`}},
		{"misspelt key", "admin:\n  step_upp: 5m\n", nil, []string{"unknown key `admin.step_upp` (did you mean `admin.step_up`?)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, "issuer: https://sso.example.go.id\nmaster_key: x\n"+tc.yaml), tc.environ)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want *Error", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q:\n%v", want, err)
				}
			}
			// One line per bad key: a size quoted once is not also
			// reported by the decoder or the range check.
			if n := strings.Count(err.Error(), "admin.max_upload"); n > 1 {
				t.Errorf("admin.max_upload named %d times, want once:\n%v", n, err)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"0": 0, "1048576": MiB, "50MiB": 50 * MiB, "50mib": 50 * MiB, " 512 KiB ": 512 * KiB, "1GiB": GiB,
		"10MB": 10_000_000, "3kb": 3000, "7B": 7,
	} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5MiB", "-1", "5TiB", "9223372036854775807GiB", "0x10"} {
		if got, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, nil; want an error", bad, got)
		}
	}
	for size, want := range map[ByteSize]string{50 * MiB: "50MiB", GiB: "1GiB", 2048: "2KiB", 1536: "1536B", 1000: "1000B", 0: "0B"} {
		if got := size.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(size), got, want)
		}
	}
}
