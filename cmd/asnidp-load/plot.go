package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// series is one named line of a plot.
type series struct {
	name string
	xy   plotter.XYs
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// linePlot draws lines into path as a PNG.
func linePlot(path, title, ylabel string, lines []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds into the phase"
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	top := 0.0
	for i, s := range lines {
		if len(s.xy) == 0 {
			continue
		}
		for _, pt := range s.xy {
			top = max(top, pt.Y)
		}
		l, err := plotter.NewLine(s.xy)
		if err != nil {
			return fmt.Errorf("plot %s: %w", s.name, err)
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.2)
		if i >= len(palette) {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	// Head room above the highest line keeps the legend off the data.
	p.Y.Max = max(1, 1.3*top)
	if err := p.Save(22*vg.Centimeter, 11*vg.Centimeter, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// plots writes the phase's throughput and latency and the servers' RSS,
// database size and goroutines over time into dir, prefixed by prefix.
func plots(dir, prefix string, p phaseResult, samples []sample, rows []rowSample) ([]string, error) {
	var ok, busy, failed, p50, p99, nh plotter.XYs
	for _, s := range p.Series {
		t := float64(s.T)
		ok = append(ok, plotter.XY{X: t, Y: float64(s.OK)})
		busy = append(busy, plotter.XY{X: t, Y: float64(s.Busy)})
		failed = append(failed, plotter.XY{X: t, Y: float64(s.Failed)})
		if s.OK > 0 {
			p50 = append(p50, plotter.XY{X: t, Y: s.P50})
			p99 = append(p99, plotter.XY{X: t, Y: s.P99})
		}
		if s.NonHashP99 > 0 {
			nh = append(nh, plotter.XY{X: t, Y: s.NonHashP99})
		}
	}
	rss, gor := map[string]plotter.XYs{}, map[string]plotter.XYs{}
	var db plotter.XYs
	for _, s := range samples {
		rss[s.Node] = append(rss[s.Node], plotter.XY{X: s.T, Y: s.RSSBytes / (1 << 20)})
		gor[s.Node] = append(gor[s.Node], plotter.XY{X: s.T, Y: s.Goroutines})
		if s.DBBytes > 0 && s.Node == samples[0].Node {
			db = append(db, plotter.XY{X: s.T, Y: s.DBBytes / (1 << 20)})
		}
	}
	byNode := func(m map[string]plotter.XYs, suffix string) []series {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		var out []series
		for _, n := range names {
			out = append(out, series{name: "process " + n + suffix, xy: m[n]})
		}
		return out
	}
	files := []struct {
		name, title, y string
		lines          []series
	}{
		{"throughput.png", "Sign-ins per second (" + p.Name + ")", "per second",
			[]series{{"completed sign-ins", ok}, {"busy (503 + Retry-After)", busy}, {"errors", failed}}},
		{"latency.png", "Latency (" + p.Name + ")", "milliseconds",
			[]series{{"whole sign-in p50", p50}, {"whole sign-in p99", p99}, {"non-hashing steps p99", nh}}},
		{"rss.png", "Server memory (" + p.Name + ")", "MiB",
			append(byNode(rss, " RSS"), series{"database size", db})},
		{"goroutines.png", "Server goroutines (" + p.Name + ")", "goroutines", byNode(gor, "")},
	}
	if len(rows) > 0 {
		var lines []series
		var audit plotter.XYs
		for _, table := range countedTables {
			var xy plotter.XYs
			nonzero := false
			for _, r := range rows {
				xy = append(xy, plotter.XY{X: r.T, Y: float64(r.Rows[table])})
				nonzero = nonzero || r.Rows[table] > 0
			}
			switch {
			case table == "audit_events":
				audit = xy // never pruned: a scale of its own
			case nonzero:
				lines = append(lines, series{table, xy})
			}
		}
		files = append(files, struct {
			name, title, y string
			lines          []series
		}{"audit.png", "Audit rows, never pruned (" + p.Name + ")", "rows", []series{{"audit_events", audit}}})
		files = append(files, struct {
			name, title, y string
			lines          []series
		}{"rows.png", "Database rows (" + p.Name + ")", "rows", lines})
	}
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, prefix+f.name)
		if err := linePlot(path, f.title, f.y, f.lines); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// replot draws the plots of a result.json again, into dir or beside it.
func replot(path, dir string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read -replot: %w", err)
	}
	var res result
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	if len(res.Phases) == 0 {
		return fmt.Errorf("%s has no phases", path)
	}
	if dir == "" {
		dir = filepath.Dir(path)
	}
	_, err = plots(dir, "", res.Phases[len(res.Phases)-1], res.Samples, res.Rows)
	return err
}
