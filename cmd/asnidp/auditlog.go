package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/nip"
	"github.com/asnidp/asnidp/storage"
)

func auditCommand(e *env) *cobra.Command {
	var (
		nipFlag, since, typ, format string
		limit                       int
	)
	cmd := &cobra.Command{
		Use:   "audit [--nip N] [--since DURATION] [--type T]",
		Short: "Query the audit log of security events",
		Long: `Print audit events, oldest first. --nip selects one employee (events under an earlier NIP
are found through the unchanged sub); --since takes a duration such as 90m, 24h or 7d;
--type takes an event type (login.password) or a family (` + strings.Join(audit.Families(), ", ") + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := storage.AuditFilter{Type: typ, Limit: limit}
			if typ != "" {
				if err := audit.CheckFilter(typ); err != nil {
					return fmt.Errorf("--type: %w", err)
				}
			}
			if nipFlag != "" {
				canonical, err := nip.Normalize(nipFlag)
				if err != nil {
					return fmt.Errorf("--nip: %w", err)
				}
				f.NIP = canonical
			}
			var window time.Duration
			if since != "" {
				var err error
				if window, err = parseSince(since); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format must be table or json, got %q", format)
			}
			return e.withApp(cmd.Context(), func(a *app) error {
				ctx := cmd.Context()
				if f.NIP != "" {
					if u, err := a.store.UserByNIP(ctx, f.NIP); err == nil {
						f.UserID = u.ID
					} else if !errors.Is(err, storage.ErrNotFound) {
						return err
					}
				}
				if window > 0 {
					f.Since = a.now().Add(-window)
				}
				events, err := a.store.AuditEvents(ctx, f)
				if err != nil {
					return err
				}
				return writeAudit(e, events, format)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&nipFlag, "nip", "", "only the events of this NIP")
	fl.StringVar(&since, "since", "", "only events this recent (e.g. 90m, 24h, 7d)")
	fl.StringVar(&typ, "type", "", "only this event type or family")
	fl.IntVar(&limit, "limit", 1000, "at most this many of the most recent events (0: all)")
	fl.StringVar(&format, "format", "table", "table, or json (one event a line)")
	return cmd
}

// parseSince accepts Go durations and whole days ("7d").
func parseSince(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 90m, 24h or 7d", s)
	}
	return d, nil
}

func writeAudit(e *env, events []*storage.AuditEvent, format string) error {
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		for _, ev := range events {
			if err := enc.Encode(auditJSON(ev)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tOUTCOME\tNIP\tSUB\tCLIENT\tIP\tACTOR\tREASON\tDETAIL")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), ev.Type, ev.Outcome,
			dash(ev.NIP), dash(ev.UserID), dash(ev.ClientID), dash(ev.IP), dash(ev.Actor), dash(ev.Reason), dash(ev.Detail))
	}
	return tw.Flush()
}

// auditJSON is the JSON form of an event, with the field names of the log.
func auditJSON(ev *storage.AuditEvent) map[string]string {
	out := map[string]string{"time": ev.Time.UTC().Format(time.RFC3339Nano), "type": ev.Type, "outcome": ev.Outcome}
	for k, v := range map[string]string{"reason": ev.Reason, "nip": ev.NIP, "sub": ev.UserID, "client_id": ev.ClientID,
		"ip": ev.IP, "user_agent": ev.UserAgent, "actor": ev.Actor, "detail": ev.Detail} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}
