package main

import (
	"net/netip"
	"time"

	"github.com/asnidp/asnidp/internal/config"
	"github.com/asnidp/asnidp/internal/cookie"
	"github.com/asnidp/asnidp/internal/mfa"
	"github.com/asnidp/asnidp/internal/password"
	"github.com/asnidp/asnidp/internal/session"
	"github.com/asnidp/asnidp/internal/throttle"
	"github.com/asnidp/asnidp/login"
	"github.com/asnidp/asnidp/op"
	"github.com/asnidp/asnidp/storage"
)

// The translation of config.yaml into each package's own options: no
// package reads settings it does not own.

// newBrowsers reads the cookies that op and login both check, configured once.
func newBrowsers(cfg config.Config, a *app, jar cookie.Jar) *session.Browsers {
	return session.New(session.Options{Cookies: jar, Hash: a.secrets, Idle: cfg.Session.Idle, Now: a.now}, a.store)
}

// opOptions configures the OIDC provider.
func opOptions(cfg config.Config, a *app, jar cookie.Jar, browsers *session.Browsers) op.Config {
	return op.Config{
		Issuer:                 cfg.Issuer,
		CryptoKey:              a.sealer.DeriveKey("oidc-crypto"),
		LoginPath:              login.Path,
		LogoutPath:             login.Path + "logout",
		AccessTokenLifetime:    cfg.Tokens.AccessToken,
		IDTokenLifetime:        cfg.Tokens.IDToken,
		CodeLifetime:           cfg.Tokens.Code,
		AuthRequestLifetime:    cfg.Tokens.AuthRequest,
		OfflineRefreshLifetime: cfg.Tokens.OfflineRefreshToken,
		RequirePAR:             cfg.OAuth.RequirePushedAuthorizationRequests,
		JWKSCacheTTL:           cfg.OAuth.JWKSCache,
		Browsers:               browsers,
		RequireOTP:             true,
		ACR:                    cfg.Login.ACR,
		StepUpACR:              cfg.Login.StepUpACR,
		Audit:                  a.audit,
		Cookies:                jar,
		Now:                    a.now,
		Logger:                 a.log,
	}
}

// loginOptions are the login pages' settings; proxies are the parsed
// trusted_proxies.
func loginOptions(cfg config.Config, jar cookie.Jar, proxies []netip.Prefix) login.Options {
	return login.Options{
		Issuer:          cfg.Issuer,
		Cookies:         jar,
		TrustedProxies:  proxies,
		SessionAbsolute: cfg.Session.Absolute,
		SessionIdle:     cfg.Session.Idle,
		PasswordOnly:    cfg.Session.PasswordOnly,
		Enrolment:       cfg.Session.Enrolment,
		Lockout: throttle.Ladder{
			DelayAfter: cfg.Password.DelayAfter,
			DelayStart: cfg.Password.DelayStart,
			DelayMax:   cfg.Password.DelayMax,
			LockAfter:  cfg.Password.LockAfter,
			IPFailures: cfg.Password.IPFailures,
			IPWindow:   cfg.Password.IPFailWindow,
		},
		IssuerName: cfg.Login.IssuerName,
		StepUpACR:  cfg.Login.StepUpACR,
		Captcha: login.Captcha{
			Length: cfg.Captcha.Length,
			TTL:    cfg.Captcha.TTL,
			CaptchaRule: throttle.CaptchaRule{
				Enabled:            cfg.Captcha.Enabled,
				LoginAfter:         cfg.Captcha.LoginAfter,
				LoginIPAfter:       cfg.Captcha.LoginIPAfter,
				LoginGlobalPerHour: cfg.Captcha.LoginGlobalPerHour,
			},
		},
		SelfReset: login.SelfReset{Enabled: cfg.MFA.SelfReset, Delay: cfg.MFA.SelfResetDelay},
		Reset: login.Reset{
			CodeTTL:      cfg.Reset.CodeTTL,
			CodeAttempts: cfg.Reset.CodeAttempts,
			FlowTTL:      cfg.Reset.FlowTTL,
			SendLimits: []storage.Limit{
				{Max: cfg.Reset.SendsPerMinute, Window: time.Minute},
				{Max: cfg.Reset.SendsPerHour, Window: time.Hour},
				{Max: cfg.Reset.SendsPerDay, Window: 24 * time.Hour},
			},
			IPRequestsPerHour:        cfg.Reset.IPRequestsPerHour,
			IPCodeFailuresPerHour:    cfg.Reset.IPCodeFailuresPerHour,
			AlertCodeFailuresPerHour: cfg.Reset.AlertCodeFailuresPerHour,
		},
		Policy: password.Policy{MinLength: cfg.Password.MinLength, MaxLength: password.MaxLength},
	}
}

// newAuthenticators is the second factor's checks, with its settings.
func newAuthenticators(cfg config.Config, a *app) *mfa.Authenticators {
	return mfa.New(mfa.Options{
		IssuerName: cfg.Login.IssuerName,
		LockAfter:  cfg.Login.TOTPLockAfter,
		OfferTTL:   cfg.Session.Enrolment,
		Sealer:     a.sealer,
		Hash:       a.secrets,
		Now:        a.now,
	}, a.store)
}
