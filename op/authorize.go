package op

// Answers a browser gets from the authorization endpoint and its
// callback. Every authorization response sent to the client, a code or an
// error, names the issuer in iss (RFC 9207), so a client that talks to
// several OPs can tell which one answered. The library's encoder adds
// nothing of the kind; ours adds iss wherever the response mode puts the
// parameters, and it is the only encoder authorization responses are
// built with (New, loginRequired, callback).

import (
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"
)

// issEncoder encodes authorization responses: the library's form encoding
// plus iss (RFC 9207 §2), in the query, the fragment or the form alike.
type issEncoder struct {
	inner  httphelper.Encoder
	issuer string
}

func (e issEncoder) Encode(src any, dst map[string][]string) error {
	if err := e.inner.Encode(src, dst); err != nil {
		return err
	}
	dst["iss"] = []string{e.issuer}
	return nil
}

// issAuthorizer is the provider with the issEncoder, for the library's
// code and error responses at the callback.
type issAuthorizer struct {
	oidcop.Authorizer
	encoder issEncoder
}

func (a issAuthorizer) Encoder() httphelper.Encoder { return a.encoder }
