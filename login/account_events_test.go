package login

import (
	"slices"
	"strings"
	"testing"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/internal/i18n"
	"github.com/asnidp/asnidp/storage"
)

// Every event the account page may show has words in both languages, for
// either outcome, and an event of a type the page does not know reads as
// "other", never as a raw key.
func TestEventKey_EveryShownEventHasWords(t *testing.T) {
	c, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, typ := range audit.Types() {
		family, _, _ := strings.Cut(typ, ".")
		if slices.Contains(accountEventTypes, typ) || slices.Contains(accountEventTypes, family) {
			shown = append(shown, typ)
		}
	}
	if len(shown) < len(accountEventTypes) {
		t.Fatalf("accountEventTypes %v names %d types, fewer than its entries", accountEventTypes, len(shown))
	}
	for _, typ := range append(shown, "made.up") {
		for _, outcome := range []string{storage.OutcomeSuccess, storage.OutcomeFailure} {
			key := eventKey(&storage.AuditEvent{Type: typ, Outcome: outcome})
			for _, lang := range []string{"id", "en"} {
				if !slices.Contains(c.Keys(lang), key) {
					t.Errorf("event %s (%s): key %q missing from the %s catalog", typ, outcome, key, lang)
				}
			}
		}
	}
	for _, typ := range []string{audit.TokenIssued, audit.TokenRefreshed, audit.MFAVerified} {
		if slices.Contains(shown, typ) {
			t.Errorf("%s is shown; it would push the events that matter off the list", typ)
		}
	}
}
