package provision

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// ReportStore is the storage reports read.
type ReportStore interface {
	CountUsers(ctx context.Context, f storage.UserFilter, by storage.Grouping) ([]storage.StateCount, error)
	ForEachPendingUser(ctx context.Context, f storage.PendingFilter, fn func(*storage.PendingUser) error) error
}

// ReportFormat is how a report is written.
type ReportFormat string

const (
	Table ReportFormat = "table"
	// CSVReport is for spreadsheets; a cell that a spreadsheet would run
	// as a formula is prefixed with an apostrophe.
	CSVReport ReportFormat = "csv"
	JSON      ReportFormat = "json"
)

// ParseReportFormat accepts table, csv and json.
func ParseReportFormat(s string) (ReportFormat, error) {
	switch f := ReportFormat(strings.ToLower(s)); f {
	case Table, CSVReport, JSON:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want table, csv or json)", s)
}

// ParseGrouping accepts "" (none), instansi and unit_kerja.
func ParseGrouping(s string) (storage.Grouping, error) {
	switch g := storage.Grouping(strings.ToLower(strings.ReplaceAll(s, "-", "_"))); g {
	case storage.GroupNone, storage.GroupInstansi, storage.GroupUnitKerja:
		return g, nil
	}
	return "", fmt.Errorf("unknown grouping %q (want instansi or unit_kerja)", s)
}

// Activation is the state of one group of accounts, as storage.StateTally
// defines it; the fields are the tally's figures, for the report's
// columns.
type Activation struct {
	Instansi    string `json:"instansi,omitempty"`
	UnitKerja   string `json:"unit_kerja,omitempty"`
	Provisioned int    `json:"provisioned"`
	PasswordSet int    `json:"password_set"`
	Active      int    `json:"active"`
	Disabled    int    `json:"disabled"`
	Total       int    `json:"total"`
	// Rate is the share of accounts in service (all but the disabled)
	// that are active: password set and authenticator bound.
	Rate float64 `json:"activation_rate"`
}

// activation is the report row of tally.
func activation(instansi, unit string, tally storage.StateTally) Activation {
	return Activation{
		Instansi:    instansi,
		UnitKerja:   unit,
		Provisioned: tally.Provisioned,
		PasswordSet: tally.PasswordSet,
		Active:      tally.Active,
		Disabled:    tally.Disabled,
		Total:       tally.Total(),
		Rate:        tally.Rate(),
	}
}

// ActivationReport is the activation report: one row per group (one row
// overall when not grouped) and the total.
type ActivationReport struct {
	By     storage.Grouping `json:"by,omitempty"`
	Groups []Activation     `json:"groups"`
	Total  Activation       `json:"total"`
}

// ActivationCounts builds the activation report of the accounts matching f.
func ActivationCounts(ctx context.Context, store ReportStore, f storage.UserFilter, by storage.Grouping) (*ActivationReport, error) {
	counts, err := store.CountUsers(ctx, f, by)
	if err != nil {
		return nil, fmt.Errorf("count accounts: %w", err)
	}
	type group struct {
		instansi, unit string
		tally          storage.StateTally
	}
	var groups []group
	var total storage.StateTally
	for _, c := range counts {
		// Counts come ordered by group, so a group's states are adjacent.
		if n := len(groups); n == 0 || groups[n-1].instansi != c.Instansi || groups[n-1].unit != c.UnitKerja {
			groups = append(groups, group{instansi: c.Instansi, unit: c.UnitKerja})
		}
		groups[len(groups)-1].tally.Add(c.State, c.Count)
		total.Add(c.State, c.Count)
	}
	r := &ActivationReport{By: by, Groups: []Activation{}, Total: activation("", "", total)}
	if by != storage.GroupNone {
		for _, g := range groups {
			r.Groups = append(r.Groups, activation(g.instansi, g.unit, g.tally))
		}
	}
	return r, nil
}

// Write writes the report in format.
func (r *ActivationReport) Write(w io.Writer, format ReportFormat) error {
	switch format {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case CSVReport:
		cw := csv.NewWriter(w)
		cw.Write(append(r.groupHeader(), "provisioned", "password_set", "active", "disabled", "total", "activation_rate"))
		for _, g := range r.rows() {
			cw.Write(append(r.groupCells(g, true), counts(g, strconv.FormatFloat(g.Rate, 'f', 4, 64))...))
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		head := append(r.groupHeader(), "provisioned", "password_set", "active", "disabled", "total", "activation")
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(head, "\t")))
		for _, g := range r.rows() {
			fmt.Fprintln(tw, strings.Join(append(r.groupCells(g, false), counts(g, percent(g))...), "\t"))
		}
		return tw.Flush()
	}
}

// rows are the groups followed by the total (the total alone when not
// grouped).
func (r *ActivationReport) rows() []Activation {
	total := r.Total
	if r.By != storage.GroupNone {
		total.Instansi, total.UnitKerja = "TOTAL", ""
	}
	return append(append([]Activation{}, r.Groups...), total)
}

func (r *ActivationReport) groupHeader() []string {
	switch r.By {
	case storage.GroupInstansi:
		return []string{"instansi"}
	case storage.GroupUnitKerja:
		return []string{"instansi", "unit_kerja"}
	}
	return nil
}

func (r *ActivationReport) groupCells(g Activation, forCSV bool) []string {
	cell := func(s string) string {
		if forCSV {
			return csvSafe(s)
		}
		if s == "" {
			return "-"
		}
		return s
	}
	switch r.By {
	case storage.GroupInstansi:
		return []string{cell(g.Instansi)}
	case storage.GroupUnitKerja:
		return []string{cell(g.Instansi), cell(g.UnitKerja)}
	}
	return nil
}

func counts(g Activation, rate string) []string {
	return []string{strconv.Itoa(g.Provisioned), strconv.Itoa(g.PasswordSet), strconv.Itoa(g.Active),
		strconv.Itoa(g.Disabled), strconv.Itoa(g.Total), rate}
}

func percent(g Activation) string {
	if g.Total-g.Disabled == 0 {
		return "-"
	}
	return strconv.FormatFloat(g.Rate*100, 'f', 1, 64) + "%"
}

// CSVSafe keeps a spreadsheet from running a cell as a formula: a cell
// starting with = + - @ or a tab is written with a leading quote.
func CSVSafe(s string) string { return csvSafe(s) }

// csvSafe keeps a spreadsheet from running a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Pending is an account not active yet.
type Pending struct {
	NIP       string            `json:"nip"`
	Name      string            `json:"nama"`
	Instansi  string            `json:"instansi"`
	UnitKerja string            `json:"unit_kerja"`
	State     storage.UserState `json:"state"`
	Since     time.Time         `json:"provisioned_at"`
}

// WritePending lists the pending accounts of instansi (all agencies when
// empty), those provisioned or with a password but no authenticator, as
// the console's pending list does, ordered by NIP, and returns how many it
// listed. JSON is one object per line, so a list of any length streams.
func WritePending(ctx context.Context, store ReportStore, instansi string, w io.Writer, format ReportFormat) (int, error) {
	return WritePendingOf(ctx, store, storage.PendingFilter{Instansi: instansi}, w, format)
}

// WritePendingOf is WritePending for the accounts f selects (one work
// unit of an agency, for the console's export).
func WritePendingOf(ctx context.Context, store ReportStore, f storage.PendingFilter, w io.Writer, format ReportFormat) (int, error) {
	bw := bufio.NewWriter(w)
	var (
		cw  *csv.Writer
		tw  *tabwriter.Writer
		enc *json.Encoder
	)
	switch format {
	case CSVReport:
		cw = csv.NewWriter(bw)
		cw.Write([]string{"nip", "nama", "instansi", "unit_kerja", "state", "provisioned_at"})
	case JSON:
		enc = json.NewEncoder(bw)
	default:
		tw = tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NIP\tNAMA\tINSTANSI\tUNIT KERJA\tSTATE\tPROVISIONED")
	}
	n := 0
	err := store.ForEachPendingUser(ctx, f, func(u *storage.PendingUser) error {
		n++
		p := Pending{NIP: u.NIP, Name: u.Name, Instansi: u.Instansi, UnitKerja: u.UnitKerja, State: u.State, Since: u.CreatedAt}
		switch {
		case cw != nil:
			return cw.Write([]string{p.NIP, csvSafe(p.Name), csvSafe(p.Instansi), csvSafe(p.UnitKerja), string(p.State), p.Since.Format(time.DateOnly)})
		case enc != nil:
			return enc.Encode(p)
		default:
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.NIP, p.Name, p.Instansi, p.UnitKerja, p.State, p.Since.Format(time.DateOnly))
			return err
		}
	})
	if err != nil {
		return n, fmt.Errorf("list pending accounts: %w", err)
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}
