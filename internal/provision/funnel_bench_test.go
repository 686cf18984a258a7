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
// heap that does not grow with the list. peak-live-MB is the most the
// heap held above its level before the export, garbage not yet collected
// included: bounded by one page of rows and the collector's pacing, not
// by the length of the list.
//
//	go test ./internal/provision -run '^$' -bench PendingCSV -benchtime 3x
func BenchmarkPendingCSV(b *testing.B) {
	for _, e := range sqlstoretest.FunnelStores {
		b.Run(e.Name, func(b *testing.B) {
			s := e.Open(b)
			// The peak of a list of a few hundred next to that of 100,000
			// shows whether memory grows with the list.
			for _, a := range []struct {
				name, instansi string
				want           int
			}{
				{"100k", sqlstoretest.FunnelBigAgency, sqlstoretest.FunnelBigPending},
				{"small_agency", sqlstoretest.FunnelAgency(250), 0},
			} {
				b.Run(a.name, func(b *testing.B) {
					b.ReportAllocs()
					var peak uint64
					var written int64
					var rows int
					for b.Loop() {
						w := newHeapWriter()
						runtime.GC()
						base := w.live()
						n, err := WritePending(b.Context(), s, a.instansi, w, CSVReport)
						if err != nil {
							b.Fatal(err)
						}
						if a.want > 0 && n != a.want {
							b.Fatalf("WritePending listed %d accounts, want %d", n, a.want)
						}
						if w.peak > base {
							peak = max(peak, w.peak-base)
						}
						written, rows = w.bytes, n
					}
					b.ReportMetric(float64(rows), "rows/op")
					b.ReportMetric(float64(written)/1e6, "csv-MB/op")
					b.ReportMetric(float64(peak)/1e6, "peak-live-MB")
				})
			}
		})
	}
}
