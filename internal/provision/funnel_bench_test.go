package provision

import (
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/asnidp/asnidp/storage/sqlstore/sqlstoretest"
)

// heapWriter discards what is written and samples the live heap at each
// write, so a benchmark can report the most the export ever held.
type heapWriter struct {
	bytes  int64
	peak   uint64
	sample []metrics.Sample
}

func newHeapWriter() *heapWriter {
	return &heapWriter{sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
}

func (w *heapWriter) live() uint64 {
	metrics.Read(w.sample)
	return w.sample[0].Value.Uint64()
}

func (w *heapWriter) Write(p []byte) (int, error) {
	w.bytes += int64(len(p))
	w.peak = max(w.peak, w.live())
	return len(p), nil
}

// BenchmarkPendingCSV exports the biggest agency's pending list, 100,000
// accounts of the national campaign, as `report activation --pending
// --format csv` and the console's export do. Target: under 5 s, with a
// live heap that does not grow with the list (peak-live-MB is the most
// the heap held above its level before the export).
//
//	go test ./internal/provision -run '^$' -bench PendingCSV -benchtime 3x
func BenchmarkPendingCSV(b *testing.B) {
	for _, e := range sqlstoretest.FunnelStores {
		b.Run(e.Name, func(b *testing.B) {
			s := e.Open(b)
			b.ReportAllocs()
			var peak uint64
			var written int64
			for b.Loop() {
				w := newHeapWriter()
				runtime.GC()
				base := w.live()
				n, err := WritePending(b.Context(), s, sqlstoretest.FunnelBigAgency, w, CSVReport)
				if err != nil {
					b.Fatal(err)
				}
				if n != sqlstoretest.FunnelBigPending {
					b.Fatalf("WritePending listed %d accounts, want %d", n, sqlstoretest.FunnelBigPending)
				}
				if w.peak > base {
					peak = max(peak, w.peak-base)
				}
				written = w.bytes
			}
			b.ReportMetric(float64(sqlstoretest.FunnelBigPending), "rows/op")
			b.ReportMetric(float64(written)/1e6, "csv-MB/op")
			b.ReportMetric(float64(peak)/1e6, "peak-live-MB")
		})
	}
}
