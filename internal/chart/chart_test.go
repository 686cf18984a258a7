package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// drawing is what a test reads back from the SVG.
type drawing struct {
	viewBox, role, labelledBy string
	title, desc               string
	bars                      []bar
	xLabels, yLabels          []string
	yLabelX                   []float64
	empty                     string
}

type bar struct {
	x, y, width, height float64
	title               string
}

// parse reads svg with encoding/xml, so it must be well-formed XML.
func parse(t *testing.T, svg []byte) drawing {
	t.Helper()
	var d drawing
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var stack []xml.StartElement
	attr := func(e xml.StartElement, name string) string {
		for _, a := range e.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	float := func(e xml.StartElement, name string) float64 {
		v, err := strconv.ParseFloat(attr(e, name), 64)
		if err != nil {
			t.Fatalf("<%s %s=%q>: %v", e.Name.Local, name, attr(e, name), err)
		}
		return v
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			tok = tok.Copy()
			stack = append(stack, tok)
			switch {
			case tok.Name.Local == "svg":
				d.viewBox, d.role, d.labelledBy = attr(tok, "viewBox"), attr(tok, "role"), attr(tok, "aria-labelledby")
			case tok.Name.Local == "rect" && attr(tok, "class") == "bar":
				d.bars = append(d.bars, bar{x: float(tok, "x"), y: float(tok, "y"), width: float(tok, "width"), height: float(tok, "height")})
			case tok.Name.Local == "text" && attr(tok, "class") == "y-label":
				d.yLabelX = append(d.yLabelX, float(tok, "x"))
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			el, text := stack[len(stack)-1], string(tok)
			parent := ""
			if len(stack) > 1 {
				parent = stack[len(stack)-2].Name.Local
			}
			switch {
			case el.Name.Local == "title" && parent == "svg":
				d.title += text
			case el.Name.Local == "desc":
				d.desc += text
			case el.Name.Local == "title" && parent == "rect":
				d.bars[len(d.bars)-1].title += text
			case attr(el, "class") == "x-label":
				d.xLabels = append(d.xLabels, text)
			case attr(el, "class") == "y-label":
				d.yLabels = append(d.yLabels, text)
			case attr(el, "class") == "empty":
				d.empty += text
			}
		}
	}
	return d
}

func days(counts ...int) []Point {
	start := time.Date(2025, time.May, 28, 0, 0, 0, 0, time.FixedZone("WIB", 7*3600))
	out := make([]Point, len(counts))
	for i, c := range counts {
		out[i] = Point{Day: start.AddDate(0, 0, i), Count: c}
	}
	return out
}

func draw(t *testing.T, c Bars) drawing {
	t.Helper()
	svg, err := c.SVG()
	if err != nil {
		t.Fatalf("SVG() = %v", err)
	}
	for _, forbidden := range []string{"<script", "http://", "https://", "<style", "@import", "href"} {
		if s := strings.ReplaceAll(string(svg), `xmlns="http://www.w3.org/2000/svg"`, ""); strings.Contains(s, forbidden) {
			t.Errorf("SVG contains %q: it must not load or run anything", forbidden)
		}
	}
	return parse(t, svg)
}

// checkBars: one bar per point, in order, each titled with its date and
// count, heights proportional to the counts, inside the plot.
func checkBars(t *testing.T, d drawing, points []Point, number func(int) string) {
	t.Helper()
	if len(d.bars) != len(points) {
		t.Fatalf("%d bars, want %d", len(d.bars), len(points))
	}
	peak := 0
	for _, p := range points {
		peak = max(peak, p.Count)
	}
	var tallest bar
	for i, b := range d.bars {
		if p := points[i]; p.Count == peak {
			tallest = b
		}
	}
	for i, b := range d.bars {
		p := points[i]
		want := fmt.Sprintf("%d/%d: %s", p.Day.Day(), int(p.Day.Month()), number(p.Count))
		if b.title != want {
			t.Errorf("bar %d title = %q, want %q", i, b.title, want)
		}
		if i > 0 && b.x <= d.bars[i-1].x {
			t.Errorf("bar %d at x=%v, not right of bar %d at x=%v", i, b.x, i-1, d.bars[i-1].x)
		}
		if b.x < 0 || b.x+b.width > width || b.y < 0 || b.y+b.height > height || b.height < 0 {
			t.Errorf("bar %d (%+v) leaves the %dx%d viewBox", i, b, width, height)
		}
		// Heights are rounded to 0.01 units.
		if peak > 0 {
			if want := tallest.height * float64(p.Count) / float64(peak); b.height < want-0.02 || b.height > want+0.02 {
				t.Errorf("bar %d height %v for %d, want %v (tallest %v for %d)", i, b.height, p.Count, want, tallest.height, peak)
			}
		}
		// All bars stand on one baseline.
		if base := b.y + b.height; base < d.bars[0].y+d.bars[0].height-0.02 || base > d.bars[0].y+d.bars[0].height+0.02 {
			t.Errorf("bar %d ends at %v, bar 0 at %v", i, base, d.bars[0].y+d.bars[0].height)
		}
	}
}

func TestBars_Trend(t *testing.T) {
	points := days(3, 0, 17, 40, 12, 8, 0, 25, 31, 9)
	d := draw(t, Bars{ID: "trend", Title: "Aktivasi per hari", Desc: "10 hari terakhir", Points: points})
	checkBars(t, d, points, groupDigits)
	if d.viewBox != "0 0 360 200" || d.role != "img" || d.labelledBy != "trend-title trend-desc" {
		t.Errorf("svg viewBox %q role %q aria-labelledby %q, want \"0 0 360 200\", img, \"trend-title trend-desc\"", d.viewBox, d.role, d.labelledBy)
	}
	if d.title != "Aktivasi per hari" || d.desc != "10 hari terakhir" {
		t.Errorf("title %q desc %q", d.title, d.desc)
	}
	// Five dates: the first, the last and three between.
	if want := []string{"28/5", "30/5", "1/6", "3/6", "6/6"}; fmt.Sprint(d.xLabels) != fmt.Sprint(want) {
		t.Errorf("date labels %q, want %q", d.xLabels, want)
	}
	// The count axis starts at 0 and reaches the highest count.
	if len(d.yLabels) < 2 || d.yLabels[0] != "0" {
		t.Fatalf("count labels %q, want 0 first", d.yLabels)
	}
	top, _ := strconv.Atoi(d.yLabels[len(d.yLabels)-1])
	if top < 40 || top >= 80 {
		t.Errorf("count axis ends at %q, want 40 or a round number above it, below twice", d.yLabels[len(d.yLabels)-1])
	}
}

func TestBars_Empty(t *testing.T) {
	d := draw(t, Bars{ID: "e", Title: "Aktivasi per hari", Empty: "Belum ada aktivasi"})
	if len(d.bars) != 0 || len(d.xLabels) != 0 {
		t.Errorf("empty chart has %d bars and date labels %q, want none", len(d.bars), d.xLabels)
	}
	if d.empty != "Belum ada aktivasi" {
		t.Errorf("empty chart says %q, want %q", d.empty, "Belum ada aktivasi")
	}
}

func TestBars_OneDay(t *testing.T) {
	points := days(7)
	d := draw(t, Bars{ID: "one", Title: "t", Points: points})
	checkBars(t, d, points, groupDigits)
	if fmt.Sprint(d.xLabels) != "[28/5]" {
		t.Errorf("date labels %q, want the one day", d.xLabels)
	}
	if d.bars[0].height <= 0 {
		t.Errorf("the only bar has height %v", d.bars[0].height)
	}
}

func TestBars_AllZero(t *testing.T) {
	points := days(0, 0, 0)
	d := draw(t, Bars{ID: "z", Title: "t", Points: points})
	checkBars(t, d, points, groupDigits)
	for i, b := range d.bars {
		if b.height != 0 {
			t.Errorf("bar %d of a zero count has height %v", i, b.height)
		}
	}
}

func TestBars_LargeCounts(t *testing.T) {
	points := days(1_234_567, 250_000, 0, 999_999)
	d := draw(t, Bars{ID: "big", Title: "t", Points: points})
	checkBars(t, d, points, groupDigits)
	if d.bars[0].title != "28/5: 1.234.567" {
		t.Errorf("bar title %q, want the count grouped by thousands", d.bars[0].title)
	}
	// The widest count label fits left of the plot.
	last := d.yLabels[len(d.yLabels)-1]
	for i, x := range d.yLabelX {
		if room := x - float64(len(d.yLabels[i]))*charWidth; room < 0 {
			t.Errorf("count label %q ends at x=%v: %v units too wide for the viewBox", d.yLabels[i], x, -room)
		}
	}
	if n, _ := strconv.Atoi(strings.ReplaceAll(last, ".", "")); n < 1_234_567 || n >= 2*1_234_567 {
		t.Errorf("count axis ends at %q, want at or above the highest count and below twice it", last)
	}
	if len(d.yLabels) > yTicks+1 {
		t.Errorf("count labels %q, want at most %d", d.yLabels, yTicks+1)
	}
	// A year of days stays within the viewBox.
	year := make([]int, 366)
	for i := range year {
		year[i] = i * 1000
	}
	points = days(year...)
	checkBars(t, draw(t, Bars{ID: "year", Title: "t", Points: points}), points, groupDigits)
}

func TestBars_EscapesText(t *testing.T) {
	title := `Aktivasi <script>alert("x")</script> & "Dinas" 'Kota'`
	d := draw(t, Bars{ID: "x", Title: title, Desc: "a < b", Points: days(1, 2),
		DateLabel: func(time.Time) string { return "<b>&" }, Number: func(n int) string { return fmt.Sprintf("%d <i>", n) }})
	if d.title != title || d.desc != "a < b" {
		t.Errorf("title %q desc %q, want them back as given", d.title, d.desc)
	}
	if d.bars[0].title != "<b>&: 1 <i>" {
		t.Errorf("bar title %q, want the labels back as given", d.bars[0].title)
	}
}

func TestBars_Invalid(t *testing.T) {
	tests := []struct {
		name string
		c    Bars
	}{
		{"no title", Bars{ID: "a", Points: days(1)}},
		{"no id", Bars{Title: "t"}},
		{"id that breaks the attribute", Bars{ID: `a" onload="x`, Title: "t"}},
		{"negative count", Bars{ID: "a", Title: "t", Points: days(1, -1)}},
		{"days out of order", Bars{ID: "a", Title: "t", Points: []Point{days(1, 2)[1], days(1, 2)[0]}}},
	}
	for _, tc := range tests {
		if _, err := tc.c.SVG(); err == nil {
			t.Errorf("%s: SVG() = nil error, want an error", tc.name)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1.000", 1234567: "1.234.567", 100000: "100.000"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

// BenchmarkBars draws the console's 30-day trend and a year of days.
func BenchmarkBars(b *testing.B) {
	for _, n := range []int{30, 366} {
		counts := make([]int, n)
		for i := range counts {
			counts[i] = (i * 7919) % 5000
		}
		c := Bars{ID: "trend", Title: "Aktivasi per hari", Desc: "d", Points: days(counts...)}
		b.Run(fmt.Sprint(n, "_days"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.SVG(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
