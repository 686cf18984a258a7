package admin

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/chart"
	"github.com/asnidp/asnidp/internal/provision"
	"github.com/asnidp/asnidp/storage"
)

// trendDays is how many days the activation chart covers.
const trendDays = 30

// funnelRow is one agency's funnel, with its activation rate as the
// report writes it (for the comparison with `asnidp report activation`).
type funnelRow struct {
	storage.Funnel
	Rate string
}

func rowOf(f storage.Funnel) funnelRow {
	return funnelRow{Funnel: f, Rate: strconv.FormatFloat(f.StateTally.Rate(), 'f', 4, 64)}
}

// funnelView is the national page: every agency.
type funnelView struct {
	layout
	Rows  []funnelRow
	Total funnelRow
	Sort  string
	Desc  bool
	Chart template.HTML
}

// SortHref is the table sorted by key, flipping the order when it is the
// current key.
func (v funnelView) SortHref(key string) string {
	desc := key != "instansi"
	if key == v.Sort {
		desc = !v.Desc
	}
	return Path + "/?sort=" + key + "&desc=" + strconv.FormatBool(desc)
}

// home is the console's first page: the national funnel for the national
// role, the own agency's for an agency administrator, the look-up for the
// helpdesk.
func (h *Handler) home(c echo.Context) error {
	op := operatorOf(c)
	switch op.Role {
	case storage.RoleHelpdesk:
		return h.render(c, http.StatusOK, "console_lookup", &lookupView{layout: layout{Title: "console.lookup.title"}})
	case storage.RoleAgency:
		return c.Redirect(http.StatusSeeOther, Path+"/agency?instansi="+urlQuery(op.Instansi))
	}
	ctx := c.Request().Context()
	if _, err := h.deps.Guard.Authorize(ctx, op.UserID, access.ViewFunnel, access.Target{Instansi: access.AllAgencies}); err != nil {
		return denied(err)
	}
	r, err := provision.ActivationFunnel(ctx, h.store, "", h.now())
	if err != nil {
		return err
	}
	v := &funnelView{layout: layout{Title: "console.funnel.title"}, Total: rowOf(r.Total), Sort: c.QueryParam("sort"), Desc: c.QueryParam("desc") == "true"}
	for _, a := range r.Agencies {
		v.Rows = append(v.Rows, rowOf(a))
	}
	sortRows(v.Rows, v.Sort, v.Desc)
	if v.Sort == "" {
		v.Sort = "instansi"
	}
	if v.Chart, err = h.trendChart(c, ""); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, "console_funnel", v)
}

// sortRows orders the national table by one of its columns.
func sortRows(rows []funnelRow, key string, desc bool) {
	val := func(r funnelRow) float64 {
		switch key {
		case "total":
			return float64(r.InService())
		case "password":
			return float64(r.WithPassword())
		case "active":
			return float64(r.Active)
		case "signed_in":
			return float64(r.SignedIn)
		case "pending":
			return float64(r.Pending())
		case "rate":
			return r.StateTally.Rate()
		}
		return 0
	}
	slices.SortStableFunc(rows, func(a, b funnelRow) int {
		n := cmp.Compare(val(a), val(b))
		if n == 0 {
			n = strings.Compare(a.Instansi, b.Instansi)
		}
		if desc {
			return -n
		}
		return n
	})
}

// agencyView is one agency's funnel.
type agencyView struct {
	layout
	Instansi string
	Row      funnelRow
	Chart    template.HTML
}

// agency is the funnel of one agency, named by the request and allowed by
// the guard for that agency only.
func (h *Handler) agency(c echo.Context) error {
	op := operatorOf(c)
	instansi := c.QueryParam("instansi")
	ctx := c.Request().Context()
	if _, err := h.deps.Guard.Authorize(ctx, op.UserID, access.ViewFunnel, access.Target{Instansi: instansi}); err != nil {
		return denied(err)
	}
	if instansi == "" {
		return c.Redirect(http.StatusSeeOther, Path+"/")
	}
	r, err := provision.ActivationFunnel(ctx, h.store, instansi, h.now())
	if err != nil {
		return err
	}
	row := r.Total
	row.Instansi = instansi
	v := &agencyView{layout: layout{Title: "console.agency.title"}, Instansi: instansi, Row: rowOf(row)}
	if v.Chart, err = h.trendChart(c, instansi); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, "console_agency", v)
}

// trendChart draws the daily activations of the last trendDays days.
func (h *Handler) trendChart(c echo.Context, instansi string) (template.HTML, error) {
	l := h.localizer(c)
	today := h.now().In(wib)
	from := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, wib).AddDate(0, 0, -(trendDays - 1))
	days, err := h.store.ActivationTrend(c.Request().Context(), storage.TrendFilter{Instansi: instansi, From: from, Days: trendDays})
	if err != nil {
		return "", err
	}
	b := chart.Bars{ID: "trend", Title: l.T("console.trend.title"), Desc: l.T("console.trend.desc", "Days", trendDays), Empty: l.T("console.trend.empty")}
	for _, d := range days {
		b.Points = append(b.Points, chart.Point{Day: d.Day, Count: d.Count})
	}
	svg, err := b.SVG()
	if err != nil {
		return "", err
	}
	return template.HTML(svg), nil // the chart package escapes every text it writes
}

// pendingPage is how many accounts one page of the pending list shows.
const pendingPage = 50

type pendingView struct {
	layout
	Instansi  string
	UnitKerja string
	Users     []storage.PendingUser
	// Next is the NIP the next page starts after; empty on the last.
	Next string
	CSV  string
}

func (h *Handler) pendingFilter(c echo.Context) (storage.PendingFilter, error) {
	op := operatorOf(c)
	f := storage.PendingFilter{Instansi: c.QueryParam("instansi"), UnitKerja: strings.TrimSpace(c.QueryParam("unit"))}
	if f.Instansi == "" && op.Role != storage.RoleNational {
		f.Instansi = op.Instansi
	}
	if _, err := h.deps.Guard.Authorize(c.Request().Context(), op.UserID, access.ViewPending, access.Target{Instansi: f.Instansi}); err != nil {
		return f, denied(err)
	}
	if f.Instansi == "" {
		return f, fail(http.StatusBadRequest, "console.pending.choose_agency", nil)
	}
	return f, nil
}

// pending is one keyset page of an agency's accounts not active yet.
func (h *Handler) pending(c echo.Context) error {
	f, err := h.pendingFilter(c)
	if err != nil {
		return err
	}
	after := c.QueryParam("after")
	users, err := h.store.PendingUsers(c.Request().Context(), f, after, pendingPage+1)
	if err != nil {
		return err
	}
	v := &pendingView{layout: layout{Title: "console.pending.title"}, Instansi: f.Instansi, UnitKerja: f.UnitKerja}
	if len(users) > pendingPage {
		users = users[:pendingPage]
		v.Next = users[len(users)-1].NIP
	}
	v.Users = users
	v.CSV = Path + "/pending.csv?instansi=" + urlQuery(f.Instansi) + "&unit=" + urlQuery(f.UnitKerja)
	return h.render(c, http.StatusOK, "console_pending", v)
}

// pendingCSV streams the whole pending list of an agency, a page of the
// database at a time: memory stays flat however long it is.
func (h *Handler) pendingCSV(c echo.Context) error {
	f, err := h.pendingFilter(c)
	if err != nil {
		return err
	}
	_, err = provision.WritePendingOf(c.Request().Context(), h.store, f, csvResponse(c, "pending.csv"), provision.CSVReport)
	return err
}

// csvResponse starts a CSV download named filename and returns its body.
func csvResponse(c echo.Context, filename string) *echo.Response {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	w.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	w.WriteHeader(http.StatusOK)
	return w
}
