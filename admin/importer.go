package admin

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/asnidp/asnidp/internal/access"
	"github.com/asnidp/asnidp/internal/confirm"
	"github.com/asnidp/asnidp/internal/provision"
	"github.com/asnidp/asnidp/storage"
)

// An upload is kept in a private directory of this process between its
// preview and its apply, named by a random ID; the apply's confirmation
// binds the ID, the file's hash and its options, so it applies exactly
// the file that was previewed.
var uploadDir = filepath.Join(os.TempDir(), "asnidp-console-uploads")

var uploadIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// uploadLifetime is how long a previewed upload waits for its apply: past
// its confirmation's expiry (confirm.DefaultTTL) it cannot be applied, so
// it is removed at the next upload, and uploads never left to be applied
// do not fill the disk.
const uploadLifetime = 2 * confirm.DefaultTTL

// pruneUploads removes the uploads older than uploadLifetime.
func (h *Handler) pruneUploads() {
	entries, err := os.ReadDir(uploadDir)
	if err != nil {
		return
	}
	cutoff := h.now().Add(-uploadLifetime)
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && info.Mode().IsRegular() && uploadIDPattern.MatchString(e.Name()) && info.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(uploadDir, e.Name()))
		}
	}
}

type importView struct {
	layout
	Instansi string
	// Action is the form's target, carrying the CSRF token in its query
	// (a multipart body is parsed only by the handler).
	Action string
}

type badRow struct {
	Line   int
	Field  string
	Reason string
}

type previewView struct {
	layout
	Name     string
	BadRows  []badRow
	More     int
	Plan     *provision.Plan
	UploadID string
	Token    string
	Disable  bool
	Fresh    bool
	Applied  bool
}

// maxShownRows bounds the bad rows listed on the page.
const maxShownRows = 200

// importScope is the agency an operator may import into: its own for an
// agency administrator, any for the national role ("").
func (h *Handler) importScope(c echo.Context) (string, error) {
	op := operatorOf(c)
	if _, err := h.deps.Guard.Authorize(c.Request().Context(), op.UserID, access.Import, access.Target{Instansi: op.Instansi}); err != nil {
		return "", denied(err)
	}
	return op.Instansi, nil
}

func (h *Handler) importForm(c echo.Context) error {
	scope, err := h.importScope(c)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, "console_import", h.importPage(c, scope, ""))
}

func (h *Handler) importPage(c echo.Context, scope, errKey string) *importView {
	return &importView{layout: layout{Title: "console.import.title", Error: errKey}, Instansi: scope,
		Action: Path + "/import?csrf=" + urlQuery(tokenOf(c))}
}

// importUpload stores the file, checks every row (the import's own
// validation, then the agency of each row and of each account it would
// change) and previews the plan. Nothing is written to the database.
func (h *Handler) importUpload(c echo.Context) error {
	scope, err := h.importScope(c)
	if err != nil {
		return err
	}
	id, name, disable, err := h.receive(c)
	if err != nil {
		var pe *pageError
		if errors.As(err, &pe) && pe.Status < 500 {
			return h.render(c, pe.Status, "console_import", h.importPage(c, scope, pe.Key))
		}
		return err
	}
	v, plan, err := h.preview(c, scope, id, name, disable)
	if err != nil {
		os.Remove(filepath.Join(uploadDir, id))
		return err
	}
	if plan == nil {
		os.Remove(filepath.Join(uploadDir, id))
		return h.render(c, http.StatusUnprocessableEntity, "console_import_preview", v)
	}
	return h.render(c, http.StatusOK, "console_import_preview", v)
}

// receive streams the upload's file part to disk, at most MaxUpload
// bytes, and returns its ID, its name and the leavers option.
func (h *Handler) receive(c echo.Context) (id, name string, disable bool, err error) {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return "", "", false, fail(http.StatusBadRequest, "console.import.no_file", err)
	}
	if err := os.MkdirAll(uploadDir, 0o700); err != nil {
		return "", "", false, err
	}
	h.pruneUploads()
	id = randomHex()
	path := filepath.Join(uploadDir, id)
	got := false
	for {
		part, perr := mr.NextPart()
		if perr == io.EOF {
			break
		}
		if perr != nil {
			os.Remove(path)
			if strings.Contains(perr.Error(), "too large") {
				return "", "", false, fail(http.StatusRequestEntityTooLarge, "console.import.too_large", perr)
			}
			return "", "", false, fail(http.StatusBadRequest, "console.import.no_file", perr)
		}
		switch part.FormName() {
		case "disable_missing":
			b, _ := io.ReadAll(io.LimitReader(part, 16))
			disable = string(b) == "1"
		case "file":
			if got {
				continue
			}
			got = true
			name = filepath.Base(part.FileName())
			f, ferr := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if ferr != nil {
				return "", "", false, ferr
			}
			n, cerr := io.Copy(f, io.LimitReader(part, h.opts.MaxUpload+1))
			f.Close()
			if cerr != nil {
				os.Remove(path)
				if strings.Contains(cerr.Error(), "too large") {
					return "", "", false, fail(http.StatusRequestEntityTooLarge, "console.import.too_large", cerr)
				}
				return "", "", false, fail(http.StatusBadRequest, "console.import.no_file", cerr)
			}
			if n > h.opts.MaxUpload {
				os.Remove(path)
				return "", "", false, fail(http.StatusRequestEntityTooLarge, "console.import.too_large", fmt.Errorf("%d bytes", n))
			}
		}
		part.Close()
	}
	if !got || name == "" || name == "." {
		os.Remove(path)
		return "", "", false, fail(http.StatusBadRequest, "console.import.no_file", errors.New("no file part"))
	}
	return id, name, disable, nil
}

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// parseUpload reads a stored upload: its format from its name (.csv or
// .jsonl), refusing what is not text.
func parseUpload(path, name string) (*provision.File, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	format, err := provision.FormatOf(name)
	if err != nil {
		return nil, "", fail(http.StatusUnprocessableEntity, "console.import.not_csv", err)
	}
	head := data[:min(len(data), 8<<10)]
	if bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(trimPartialRune(head)) {
		return nil, "", fail(http.StatusUnprocessableEntity, "console.import.not_csv", errors.New("binary content"))
	}
	f, err := provision.Parse(bytes.NewReader(data), format)
	if errors.Is(err, provision.ErrNoRows) {
		return nil, "", fail(http.StatusUnprocessableEntity, "console.import.no_rows", err)
	}
	if err != nil {
		return nil, "", fail(http.StatusUnprocessableEntity, "console.import.bad_header", err)
	}
	return f, hex.EncodeToString(sum[:]), nil
}

// trimPartialRune drops a rune cut at the end of a prefix.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < 3 && len(b) > 0 && !utf8.FullRune(b[max(0, len(b)-4):]); i++ {
		b = b[:len(b)-1]
	}
	return b
}

// preview checks the upload and plans it; plan is nil when a row is bad
// (the view lists them).
func (h *Handler) preview(c echo.Context, scope, id, name string, disable bool) (*previewView, *provision.Plan, error) {
	v := &previewView{layout: layout{Title: "console.import.preview_title"}, Name: name, UploadID: id, Disable: disable, Fresh: h.freshFactor(c)}
	file, sum, err := parseUpload(filepath.Join(uploadDir, id), name)
	if err != nil {
		var pe *pageError
		if errors.As(err, &pe) && pe.Status < 500 {
			v.Error = pe.Key
			return v, nil, nil
		}
		return nil, nil, err
	}
	bad, err := h.outOfScope(c, scope, file)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range file.Errors {
		bad = append(bad, badRow{Line: e.Line, Field: e.Field, Reason: e.Reason})
	}
	if len(bad) > 0 {
		sortRowsByLine(bad)
		v.Error = "console.import.bad_rows"
		if len(bad) > maxShownRows {
			v.More = len(bad) - maxShownRows
			bad = bad[:maxShownRows]
		}
		v.BadRows = bad
		return v, nil, nil
	}
	plan, err := h.importer(c, name).Plan(c.Request().Context(), file, leaversOf(scope, disable))
	if errors.Is(err, provision.ErrUnknownAgency) || errors.Is(err, provision.ErrNoAgencyRows) {
		v.Error = "console.import.leavers_refused"
		return v, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if bad, err := h.operatorChanges(c, scope, file, plan); err != nil {
		return nil, nil, err
	} else if len(bad) > 0 {
		v.Error, v.BadRows = "console.import.bad_rows", bad
		return v, nil, nil
	}
	v.Plan = plan
	op := operatorOf(c)
	v.Token, err = h.deps.Confirm.Issue(confirm.Binding{OperatorSub: op.UserID, Action: string(access.Import), Target: id,
		Reason: importReason(sum, name, disable)})
	if err != nil {
		return nil, nil, err
	}
	return v, plan, nil
}

// leaversOf is the agency whose unlisted accounts an import disables:
// only an agency administrator's own, when asked.
func leaversOf(scope string, disable bool) string {
	if disable && scope != "" {
		return scope
	}
	return ""
}

func importReason(sum, name string, disable bool) string {
	return "import sha256=" + sum + " name=" + strconv.Quote(name) + " disable_missing=" + strconv.FormatBool(disable)
}

// outOfScope lists the rows an agency administrator may not import: a
// row naming another agency (or none), and a row of an account that is
// stored under another agency. The guard decides, once per other agency,
// and audits each denial.
func (h *Handler) outOfScope(c echo.Context, scope string, file *provision.File) ([]badRow, error) {
	if scope == "" {
		return nil, nil
	}
	ctx := c.Request().Context()
	op := operatorOf(c)
	nips := make([]string, len(file.Records))
	for i, r := range file.Records {
		nips[i] = r.NIP()
	}
	stored, err := h.store.UsersByNIPs(ctx, nips)
	if err != nil {
		return nil, err
	}
	storedAgency := make(map[string]string, len(stored))
	for _, u := range stored {
		storedAgency[u.NIP] = u.Instansi
	}

	decided := map[string]bool{}
	allowed := func(instansi, nip string) (bool, error) {
		if ok, seen := decided[instansi]; seen {
			return ok, nil
		}
		_, err := h.deps.Guard.Authorize(ctx, op.UserID, access.Import, access.Target{Instansi: instansi, NIP: nip})
		if err != nil && !errors.Is(err, access.ErrDenied) {
			return false, err
		}
		decided[instansi] = err == nil
		return err == nil, nil
	}
	var bad []badRow
	for _, r := range file.Records {
		rowAgency := r.Values[provision.FieldInstansi]
		ok, err := allowed(rowAgency, r.NIP())
		if err != nil {
			return nil, err
		}
		if !ok {
			bad = append(bad, badRow{Line: r.Line, Field: "instansi", Reason: "other_agency"})
			continue
		}
		if was, exists := storedAgency[r.NIP()]; exists {
			if ok, err = allowed(was, r.NIP()); err != nil {
				return nil, err
			} else if !ok {
				bad = append(bad, badRow{Line: r.Line, Field: "nip", Reason: "account_of_other_agency"})
			}
		}
	}
	return bad, nil
}

// operatorChanges lists the changes of plan to accounts holding a console
// role that the operator's role may not change (access: only a role below
// its own): an update of such an account by its row's line, a leaver by
// its NIP. A row that leaves such an account as it is stays allowed, so
// an agency's whole personnel file, its administrators included, still
// imports.
func (h *Handler) operatorChanges(c echo.Context, scope string, file *provision.File, plan *provision.Plan) ([]badRow, error) {
	if scope == "" {
		return nil, nil
	}
	ctx := c.Request().Context()
	operators, err := h.store.Operators(ctx)
	if err != nil {
		return nil, err
	}
	roleOf := make(map[string]storage.OperatorRole, len(operators))
	for _, o := range operators {
		roleOf[o.UserID] = o.Role
	}
	lineOf := make(map[string]int, len(file.Records))
	for _, r := range file.Records {
		lineOf[r.NIP()] = r.Line
	}
	var bad []badRow
	check := func(ch provision.Change, leaver bool) error {
		role, held := roleOf[ch.UserID]
		if !held || ch.UserID == "" {
			return nil
		}
		_, err := h.deps.Guard.Authorize(ctx, operatorOf(c).UserID, access.Import, access.Target{Instansi: scope, NIP: ch.NIP, Role: role})
		switch {
		case errors.Is(err, access.ErrDenied) && leaver:
			bad = append(bad, badRow{Field: "disable_missing " + ch.NIP, Reason: "account_of_operator"})
		case errors.Is(err, access.ErrDenied):
			bad = append(bad, badRow{Line: lineOf[ch.NIP], Field: "nip", Reason: "account_of_operator"})
		case err != nil:
			return err
		}
		return nil
	}
	for _, ch := range plan.Disable {
		if err := check(ch, true); err != nil {
			return nil, err
		}
	}
	for _, ch := range plan.Update {
		if err := check(ch, false); err != nil {
			return nil, err
		}
	}
	sortRowsByLine(bad)
	return bad, nil
}

func sortRowsByLine(rows []badRow) {
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].Line < rows[j-1].Line; j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

func (h *Handler) importer(c echo.Context, name string) *provision.Importer {
	return &provision.Importer{Store: h.store, Audit: h.deps.Audit, Actor: access.Actor(operatorOf(c).UserID),
		Source: "console:" + name, Now: h.now}
}

// importApply writes a previewed upload: the guard, a fresh second
// factor and the preview's confirmation (once) first, then the file
// checked and planned again, since the accounts may have changed.
func (h *Handler) importApply(c echo.Context) error {
	scope, err := h.importScope(c)
	if err != nil {
		return err
	}
	id, name := c.FormValue("upload"), filepath.Base(c.FormValue("name"))
	disable := c.FormValue("disable_missing") == "1"
	if !uploadIDPattern.MatchString(id) {
		return fail(http.StatusBadRequest, "console.import.gone", errors.New("bad upload id"))
	}
	path := filepath.Join(uploadDir, id)
	if info, err := os.Stat(path); err != nil {
		return fail(http.StatusGone, "console.import.gone", err)
	} else if info.ModTime().Before(h.now().Add(-uploadLifetime)) {
		os.Remove(path)
		return fail(http.StatusGone, "console.import.gone", errors.New("upload older than its lifetime"))
	}
	if !h.freshFactor(c) {
		return fail(http.StatusForbidden, "console.action.stepup_needed", errors.New("import without a fresh second factor"))
	}
	file, sum, err := parseUpload(path, name)
	if err != nil {
		return err
	}
	op := operatorOf(c)
	ctx := c.Request().Context()
	err = h.deps.Confirm.Redeem(ctx, c.FormValue("token"), confirm.Binding{OperatorSub: op.UserID, Action: string(access.Import),
		Target: id, Reason: importReason(sum, name, disable)})
	if err != nil {
		return h.confirmRefused(c, access.Import, id, err)
	}
	defer os.Remove(path)
	if bad, err := h.outOfScope(c, scope, file); err != nil {
		return err
	} else if len(bad) > 0 || len(file.Errors) > 0 {
		return fail(http.StatusUnprocessableEntity, "console.import.bad_rows", errors.New("rows out of scope at apply"))
	}
	im := h.importer(c, name)
	plan, err := im.Plan(ctx, file, leaversOf(scope, disable))
	if err != nil {
		return err
	}
	if bad, err := h.operatorChanges(c, scope, file, plan); err != nil {
		return err
	} else if len(bad) > 0 {
		return fail(http.StatusUnprocessableEntity, "console.import.bad_rows", errors.New("changes to operators' accounts at apply"))
	}
	id, job := h.jobs.start(op.UserID, name, im, plan, h.now)
	return h.awaitImport(c, id, job, h.opts.ImportWait)
}

// tokenOf is the CSRF token of the request.
func tokenOf(c echo.Context) string { return csrfTokenOf(c) }
