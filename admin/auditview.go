package admin

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/provision"
	"github.com/asnidp/asnidp/internal/webguard"
	"github.com/asnidp/asnidp/storage"
)

func csrfTokenOf(c echo.Context) string { return webguard.Token(c) }

// auditPage bounds the rows the page shows; the CSV export has them all.
const auditPage = 200

type auditView struct {
	layout
	NIP    string
	Type   string
	Days   string
	Types  []string
	Events []*storage.AuditEvent
	CSV    string
}

// auditFilter reads the filter: an agency's operator must name an
// employee of its agency (the audit log has no agency column, the account
// has); the national role may read it all.
func (h *Handler) auditFilter(c echo.Context) (storage.AuditFilter, *auditView, error) {
	v := &auditView{layout: layout{Title: "console.audit.title"}, NIP: strings.TrimSpace(c.QueryParam("nip")),
		Type: strings.TrimSpace(c.QueryParam("type")), Days: strings.TrimSpace(c.QueryParam("days")), Types: families()}
	f := storage.AuditFilter{}
	op := operatorOf(c)
	if v.NIP == "" {
		if _, err := h.deps.Guard.Authorize(c.Request().Context(), op.UserID, access.ViewAudit, access.Target{Instansi: access.AllAgencies}); err != nil {
			if op.Role == storage.RoleAgency {
				v.Error = "console.audit.nip_required"
				return f, v, nil
			}
			return f, nil, denied(err)
		}
	} else {
		u, err := h.findUser(c, v.NIP, access.ViewAudit)
		if err != nil {
			return f, nil, err
		}
		f.NIP, f.UserID = u.NIP, u.ID
		// An employee's events are part of the employee's record: reading
		// them is a personal data access, as the employee page is.
		h.deps.Audit.Record(c.Request().Context(), storage.AuditEvent{Type: audit.OperatorViewed, Outcome: audit.Success, NIP: u.NIP, UserID: u.ID,
			Actor: access.Actor(op.UserID), Detail: "operator_nip=" + op.NIP + " page=" + strings.TrimPrefix(c.Path(), Path+"/")})
	}
	if v.Type != "" {
		if !validType(v.Type) {
			return f, nil, fail(http.StatusBadRequest, "console.audit.bad_type", nil)
		}
		f.Type = v.Type
	}
	if v.Days != "" {
		n, err := strconv.Atoi(v.Days)
		if err != nil || n < 1 || n > 3660 {
			return f, nil, fail(http.StatusBadRequest, "console.audit.bad_days", err)
		}
		f.Since = h.now().Add(-time.Duration(n) * 24 * time.Hour)
	}
	v.CSV = Path + "/audit.csv?" + c.Request().URL.Query().Encode()
	return f, v, nil
}

// families are the event types and their families ("mfa"), for the
// filter's list.
func families() []string {
	var out []string
	for _, t := range audit.Types() {
		fam, _, _ := strings.Cut(t, ".")
		if !slices.Contains(out, fam) {
			out = append(out, fam)
		}
	}
	slices.Sort(out)
	return append(out, audit.Types()...)
}

func validType(t string) bool { return slices.Contains(families(), t) }

func (h *Handler) auditView(c echo.Context) error {
	f, v, err := h.auditFilter(c)
	if err != nil {
		return err
	}
	if v.Error == "" {
		f.Limit = auditPage
		if v.Events, err = h.store.AuditEvents(c.Request().Context(), f); err != nil {
			return err
		}
		slices.Reverse(v.Events)
	}
	return h.render(c, http.StatusOK, "console_audit", v)
}

// auditExportLimit bounds one export; a narrower filter gets the rest.
const auditExportLimit = 100000

func (h *Handler) auditCSV(c echo.Context) error {
	f, v, err := h.auditFilter(c)
	if err != nil {
		return err
	}
	if v.Error != "" {
		return fail(http.StatusBadRequest, v.Error, nil)
	}
	f.Limit = auditExportLimit
	events, err := h.store.AuditEvents(c.Request().Context(), f)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(csvResponse(c, "audit.csv"))
	cw.Write([]string{"time", "type", "outcome", "nip", "sub", "client_id", "ip", "actor", "reason", "detail"})
	for _, e := range events {
		cw.Write([]string{e.Time.UTC().Format(time.RFC3339), e.Type, e.Outcome, e.NIP, e.UserID, e.ClientID, e.IP,
			provision.CSVSafe(e.Actor), provision.CSVSafe(e.Reason), provision.CSVSafe(e.Detail)})
	}
	cw.Flush()
	return cw.Error()
}
