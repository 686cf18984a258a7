package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Job is one position in an employee's history.
type Job struct {
	Jabatan   string `json:"jabatan"`
	UnitKerja string `json:"unit_kerja"`
	Instansi  string `json:"instansi"`
	// TMT (terhitung mulai tanggal) is the date the position started.
	TMT time.Time `json:"-"`
	// SK is the number of the appointment decree.
	SK string `json:"sk"`
}

// historyJSON is sample data: job histories by NIP. A real service would
// read them from the personnel database.
//
//go:embed data/riwayat.json
var historyJSON []byte

// loadHistory parses the sample data, newest position first.
func loadHistory() (map[string][]Job, error) {
	var raw map[string][]struct {
		Job
		TMT string `json:"tmt"`
	}
	dec := json.NewDecoder(bytes.NewReader(historyJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse data/riwayat.json: %w", err)
	}
	out := make(map[string][]Job, len(raw))
	for nip, jobs := range raw {
		for i, j := range jobs {
			t, err := time.Parse(time.DateOnly, j.TMT)
			if err != nil {
				return nil, fmt.Errorf("data/riwayat.json: %s[%d].tmt: %w", nip, i, err)
			}
			j.Job.TMT = t
			out[nip] = append(out[nip], j.Job)
		}
		slices.SortFunc(out[nip], func(a, b Job) int { return b.TMT.Compare(a.TMT) })
	}
	return out, nil
}
