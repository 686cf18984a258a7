package login

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// ProtocolError is a protocol request (an authorization request, a
// logout) the OP refuses in the browser because the answer cannot go to
// the relying party: its client or return address is not trusted, or the
// request cannot be read (D2).
type ProtocolError struct {
	Status int
	// Message is the catalog key saying why, in plain words.
	Message string
	// Code and Description are the OAuth error, shown small for the
	// service's developers.
	Code, Description string
	// Back is the home of the registered client the request named, or ""
	// when it named none; the page then leads to the account page.
	Back string
	// UILocales are the languages the relying party asked for.
	UILocales []string
}

// ServeProtocolError shows e as the error page, with the headers, language
// choice and layout of every other page.
func (h *Handler) ServeProtocolError(w http.ResponseWriter, r *http.Request, e ProtocolError) {
	c := h.echo.NewContext(r, w)
	show := func(c echo.Context) error {
		v := &errorView{
			layout:      layout{Title: "authorize.title", L: h.localizerFor(c, e.UILocales)},
			Message:     e.Message,
			Code:        e.Code,
			Description: e.Description,
			Back:        e.Back,
			BackLabel:   "authorize.back_client",
		}
		if e.Status >= 500 {
			v.Title = "error.title"
		}
		if v.Back == "" {
			v.Back, v.BackLabel = Path+"account", "authorize.back_account"
		}
		// The language links ask for the same request again; a post
		// cannot be repeated by a link.
		if r.Method == http.MethodGet {
			v.Query = r.URL.Query()
			v.Query.Del("lang")
		} else {
			v.HideLang = true
		}
		return h.render(c, e.Status, "error", v)
	}
	if err := h.securityHeaders(show)(c); err != nil {
		h.log.ErrorContext(r.Context(), "render protocol error page", "err", err)
		if !c.Response().Committed {
			c.Response().WriteHeader(e.Status)
		}
	}
}
