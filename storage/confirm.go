package storage

import (
	"context"
	"time"
)

// ConfirmationStore remembers the console's confirmation tokens that were
// used (internal/confirm), so each confirms one action only, whichever
// process it reaches.
type ConfirmationStore interface {
	// UseConfirmation records the token id as used until expiresAt. An id
	// recorded before and not yet expired at now is ErrConflict: the token
	// is a replay. Of two concurrent calls exactly one succeeds. Prune
	// removes a record once it has expired, when the token it names is
	// refused for its expiry anyway.
	UseConfirmation(ctx context.Context, id string, expiresAt, now time.Time) error
}
