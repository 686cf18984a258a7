// Package cputime reports the CPU time a benchmark spends per operation.
// On a shared machine throughput moves with whatever else runs; the CPU
// time of this process per operation moves much less, so the token
// benchmarks compare it with the CPU time of one signature.
package cputime

import (
	"syscall"
	"testing"
	"time"
)

// Process is the CPU time (user + system) this process has used.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Report adds "cpu-µs/op": the CPU time used since start over b.N. Call it
// right after b.StopTimer, with start taken right after b.ResetTimer.
func Report(b *testing.B, start time.Duration) {
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64((Process()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
