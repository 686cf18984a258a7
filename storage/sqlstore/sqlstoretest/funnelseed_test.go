package sqlstoretest

import "testing"

func TestAgencySizes(t *testing.T) {
	sizes := agencySizes()
	total, smallest, largest := 0, sizes[1], sizes[1]
	for _, n := range sizes[1:] {
		total += n
		smallest, largest = min(smallest, n), max(largest, n)
	}
	if total+sizes[0] != FunnelAccounts || len(sizes) != FunnelAgencies || sizes[0] != bigAgencySize {
		t.Errorf("%d agencies, %d accounts, the biggest %d; want %d, %d, %d", len(sizes), total+sizes[0], sizes[0],
			FunnelAgencies, FunnelAccounts, bigAgencySize)
	}
	if smallest < 500 || largest > 2700 {
		t.Errorf("other agencies have %d to %d accounts, want about 600 to 2,600", smallest, largest)
	}
}
