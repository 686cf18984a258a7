package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Where the load's relying party would live. Nothing is ever sent there:
// the tool reads the OP's redirects instead of following them off the OP.
const (
	loadRedirectURI = "https://rp.load.invalid/callback"
	loadPostLogout  = "https://rp.load.invalid/"
)

// provisioned is what the run created through the CLI.
type provisioned struct {
	employees []*employee
	clientID  string
	secret    string
}

// provision imports n load employees from a generated personnel CSV, gives
// them all one random password with the CLI (each hashed and audited on
// its own) and registers a confidential client.
func provision(ctx context.Context, t *target, dir string, n int, transport http.RoundTripper) (*provisioned, error) {
	// A random first birth date keeps the NIPs of two runs on one server apart.
	off, err := rand.Int(rand.Reader, big.NewInt(3000))
	if err != nil {
		return nil, err
	}
	nips := loadNIPs(n, int(off.Int64()))
	var csv, list strings.Builder
	csv.WriteString("nip,nama,email,instansi,unit_kerja,jabatan,jenis_pegawai\n")
	for i, nip := range nips {
		fmt.Fprintf(&csv, "%s,Pegawai Uji %d,uji.%s@example.go.id,Instansi Uji Beban,Unit %d,Penata Layanan Operasional,PPPK Paruh Waktu\n",
			nip, i+1, nip, i%10)
		list.WriteString(nip + "\n")
	}
	csvPath, listPath := filepath.Join(dir, "employees.csv"), filepath.Join(dir, "nips.txt")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write employees.csv: %w", err)
	}
	if err := os.WriteFile(listPath, []byte(list.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write nips.txt: %w", err)
	}
	if _, err := t.cli(ctx, "", "user", "import", csvPath); err != nil {
		return nil, err
	}
	password := "beban uji " + strings.ToLower(rand.Text()[:12])
	if _, err := t.cli(ctx, password+"\n", "user", "set-password", "--nip-file", listPath); err != nil {
		return nil, err
	}
	p := &provisioned{clientID: "load-" + strings.ToLower(rand.Text()[:8])}
	out, err := t.cli(ctx, "", "client", "add", "--id", p.clientID, "--name", "Uji Beban",
		"--redirect-uri", loadRedirectURI, "--post-logout-redirect-uri", loadPostLogout)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	p.secret = strings.TrimSpace(lines[len(lines)-1])
	if p.secret == "" || !strings.Contains(out, "secret") {
		return nil, fmt.Errorf("client add printed no secret")
	}
	for _, nip := range nips {
		p.employees = append(p.employees, newEmployee(nip, password, transport))
	}
	return p, nil
}

// loadNIPs returns n valid, distinct PPPK numbers (NI PPPK: birth date,
// appointment year 2025, code 21, gender, sequence), 1,998 per birth date
// from 1 January 1990 plus offset days.
func loadNIPs(n, offset int) []string {
	first := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, offset)
	out := make([]string, n)
	for i := range n {
		birth := first.AddDate(0, 0, i/1998)
		gender := 1 + (i/999)%2
		out[i] = fmt.Sprintf("%s202521%d%03d", birth.Format("20060102"), gender, i%999+1)
	}
	return out
}
