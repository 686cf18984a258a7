package provision

import (
	"context"
	"fmt"
	"time"

	"github.com/asnidp/asnidp/storage"
)

// SignInWindow is how recent a sign-in must be for the funnel's last
// step, "signed in within 30 days".
const SignInWindow = 30 * 24 * time.Hour

// FunnelStore is the storage the funnel reads.
type FunnelStore interface {
	ActivationFunnel(ctx context.Context, f storage.FunnelFilter) ([]storage.Funnel, error)
}

// FunnelReport is the activation funnel per agency and over them: the
// counts of `asnidp report activation --by instansi`, with the active
// accounts signed in since Since.
type FunnelReport struct {
	Since    time.Time
	Agencies []storage.Funnel
	// Total sums Agencies (Instansi empty).
	Total storage.Funnel
}

// ActivationFunnel builds the funnel of instansi, or of every agency when
// it is empty, as of now.
func ActivationFunnel(ctx context.Context, store FunnelStore, instansi string, now time.Time) (*FunnelReport, error) {
	since := now.Add(-SignInWindow)
	agencies, err := store.ActivationFunnel(ctx, storage.FunnelFilter{Instansi: instansi, SignedInSince: since})
	if err != nil {
		return nil, fmt.Errorf("count the activation funnel: %w", err)
	}
	r := &FunnelReport{Since: since, Agencies: agencies}
	for _, a := range agencies {
		r.Total = r.Total.Plus(a)
	}
	r.Total.Instansi = ""
	return r, nil
}
