package provision

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asnidp/asnidp/internal/audit"
	"github.com/asnidp/asnidp/storage/sqlstore"
)

// export100k is a 100,000-row personnel export.
func export100k() []byte {
	var b bytes.Buffer
	b.WriteString("nip,nama,email,instansi,unit_kerja,jabatan,jenis_pegawai\n")
	for i := range 100_000 {
		fmt.Fprintf(&b, "%s,Pegawai Nomor %d,pegawai%d@example.go.id,Instansi %d,Unit Kerja %d,Guru Ahli Pertama,PPPK Paruh Waktu\n",
			nipFor(i), i, i, i%50, i%700)
	}
	return b.Bytes()
}

// benchImporter imports into s as the CLI does, with an audit row per
// account (logged to nowhere).
func benchImporter(s *sqlstore.Store) *Importer {
	return &Importer{Store: s, Audit: audit.New(s, slog.New(slog.DiscardHandler), time.Now), Actor: "operator:bench"}
}

// importAll parses, plans and applies one export.
func importAll(b *testing.B, im *Importer, data []byte) *Plan {
	f, err := Parse(bytes.NewReader(data), CSV)
	if err != nil || len(f.Errors) > 0 {
		b.Fatalf("Parse = %v, %d bad rows", err, len(f.Errors))
	}
	p, err := im.Plan(b.Context(), f, "")
	if err != nil {
		b.Fatal(err)
	}
	if err := im.Apply(b.Context(), p); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkImport100k measures a whole import of 100,000 rows into a
// fresh SQLite file (parse, validate, plan, write in batches with an
// audit row per account), and the
// second import of the same file, which finds everything unchanged.
//
//	go test ./internal/provision -run '^$' -bench Import100k -benchtime 3x
func BenchmarkImport100k(b *testing.B) {
	data := export100k()
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			im := benchImporter(newStore(b))
			b.StartTimer()
			if p := importAll(b, im, data); len(p.Create) != 100_000 {
				b.Fatalf("created %d, want 100000", len(p.Create))
			}
		}
		b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("again", func(b *testing.B) {
		im := benchImporter(newStore(b))
		importAll(b, im, data)
		b.ResetTimer()
		for b.Loop() {
			if p := importAll(b, im, data); p.Unchanged != 100_000 {
				b.Fatalf("unchanged %d, want 100000", p.Unchanged)
			}
		}
		b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
