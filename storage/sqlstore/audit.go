package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/asnidp/asnidp/storage"
)

type auditRow struct {
	ID        string `db:"id"`
	At        int64  `db:"at"`
	Type      string `db:"type"`
	Outcome   string `db:"outcome"`
	Reason    string `db:"reason"`
	NIP       string `db:"nip"`
	UserID    string `db:"user_id"`
	ClientID  string `db:"client_id"`
	IP        string `db:"ip"`
	UserAgent string `db:"user_agent"`
	Actor     string `db:"actor"`
	Detail    string `db:"detail"`
}

const auditColumns = `id, at, type, outcome, reason, nip, user_id, client_id, ip, user_agent, actor, detail`

func (r *auditRow) event() *storage.AuditEvent {
	return &storage.AuditEvent{
		ID:        r.ID,
		Time:      fromMicros(r.At),
		Type:      r.Type,
		Outcome:   r.Outcome,
		Reason:    r.Reason,
		NIP:       r.NIP,
		UserID:    r.UserID,
		ClientID:  r.ClientID,
		IP:        r.IP,
		UserAgent: r.UserAgent,
		Actor:     r.Actor,
		Detail:    r.Detail,
	}
}

// AppendAudit stores e. An empty ID becomes a time-ordered UUID (v7), so
// events of the same microsecond keep their order of writing.
func (s *Store) AppendAudit(ctx context.Context, e *storage.AuditEvent) (err error) {
	defer wrap(&err, "AppendAudit")
	return insertAudit(ctx, s.db, []*storage.AuditEvent{e})
}

// auditChunk bounds the rows of one multi-row INSERT (12 values each).
const auditChunk = 200

// insertAudit appends events with q, which is the database or the
// transaction of the change they describe.
func insertAudit(ctx context.Context, q sqlx.ExtContext, events []*storage.AuditEvent) error {
	for start := 0; start < len(events); start += auditChunk {
		chunk := events[start:min(start+auditChunk, len(events))]
		args := make([]any, 0, len(chunk)*12)
		for _, e := range chunk {
			if e.Type == "" {
				return errors.New("audit event without type")
			}
			if e.ID == "" {
				id, err := uuid.NewV7()
				if err != nil {
					return err
				}
				e.ID = id.String()
			}
			args = append(args, e.ID, micros(e.Time), e.Type, e.Outcome, e.Reason, e.NIP, e.UserID, e.ClientID,
				e.IP, e.UserAgent, e.Actor, e.Detail)
		}
		query := `INSERT INTO audit_events (` + auditColumns + `) VALUES ` + placeholders(len(chunk), 12)
		if _, err := exec(ctx, q, query, args...); err != nil {
			return err
		}
	}
	return nil
}

// typeCondition matches one type filter: the exact type when it has a
// dot, otherwise a family, every type that starts with "fam.". A family is
// compared with substr, not LIKE, so no character of the filter is a
// wildcard, and not as a range, which a collation may reorder.
func typeCondition(filter string) (string, []any) {
	if strings.Contains(filter, ".") {
		return "type = ?", []any{filter}
	}
	prefix := filter + "."
	return fmt.Sprintf("(type = ? OR substr(type, 1, %d) = ?)", utf8.RuneCountInString(prefix)), []any{filter, prefix}
}

// AuditEvents returns the matching events, oldest first.
func (s *Store) AuditEvents(ctx context.Context, f storage.AuditFilter) (_ []*storage.AuditEvent, err error) {
	defer wrap(&err, "AuditEvents")
	var where []string
	var args []any
	switch {
	case f.NIP != "" && f.UserID != "":
		where = append(where, "(nip = ? OR user_id = ?)")
		args = append(args, f.NIP, f.UserID)
	case f.NIP != "":
		where = append(where, "nip = ?")
		args = append(args, f.NIP)
	case f.UserID != "":
		where = append(where, "user_id = ?")
		args = append(args, f.UserID)
	}
	if f.Type != "" {
		cond, arg := typeCondition(f.Type)
		where = append(where, cond)
		args = append(args, arg...)
	}
	if len(f.Types) > 0 {
		var alts []string
		for _, t := range f.Types {
			cond, arg := typeCondition(t)
			alts = append(alts, cond)
			args = append(args, arg...)
		}
		where = append(where, "("+strings.Join(alts, " OR ")+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, micros(f.Since))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY at DESC, id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var rows []auditRow
	if err := all(ctx, s.db, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]*storage.AuditEvent, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].event())
	}
	slices.Reverse(out)
	return out, nil
}
