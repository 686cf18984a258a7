package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoad_ResetAndCaptchaDefaults(t *testing.T) {
	c, err := Load(writeConfig(t, "issuer: https://sso.example.go.id\nmaster_key: x\n"), nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	r := c.Reset
	if r.CodeTTL != 10*time.Minute || r.CodeAttempts != 5 || r.SendsPerMinute != 1 || r.SendsPerHour != 5 || r.SendsPerDay != 10 {
		t.Errorf("reset defaults = %+v, want docs/security.md (10 min, 5 tries, 1/min, 5/h, 10/day)", r)
	}
	if !c.Captcha.Enabled || c.Captcha.LoginAfter != 3 {
		t.Errorf("captcha defaults = %+v, want enabled, from the 3rd failure", c.Captcha)
	}

	c, err = Load(writeConfig(t, "issuer: https://sso.example.go.id\nmaster_key: x\n"),
		[]string{"ASNIDP_CAPTCHA_ENABLED=false", "ASNIDP_RESET_SENDS_PER_HOUR=3", "ASNIDP_MAIL_RETRY_DELAY=5s"})
	if err != nil {
		t.Fatalf("Load with overrides = %v", err)
	}
	if c.Captcha.Enabled || c.Reset.SendsPerHour != 3 || c.Mail.RetryDelay != 5*time.Second {
		t.Errorf("overrides not applied: captcha %v, sends/h %d, retry %v", c.Captcha.Enabled, c.Reset.SendsPerHour, c.Mail.RetryDelay)
	}
}

func TestLoad_ResetAndCaptchaProblems(t *testing.T) {
	path := writeConfig(t, `issuer: https://sso.example.go.id
master_key: x
mail:
  from: "not an address"
  attempts: 0
captcha:
  length: 3
  ttl: 10s
reset:
  code_ttl: 10m
  flow_ttl: 5m
  sends_per_minute: 2
  sends_per_hour: 1
  ip_code_failures_per_hour: 0
`)
	_, err := Load(path, nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load = %v, want *Error", err)
	}
	for _, want := range []string{"mail.from:", "mail.attempts:", "captcha.length:", "captcha.ttl:", "reset.flow_ttl:",
		"reset.sends_per_hour:", "reset.ip_code_failures_per_hour:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}
