// Package chart draws the console's daily trends as SVG on the server:
// no script, no stylesheet or font from elsewhere, so a page that embeds
// it stays within its own Content-Security-Policy.
//
// A chart is drawn in a 360-unit-wide viewBox, the width of a small
// phone, and scales with its container: its text is legible there at
// 1:1 and grows on wider screens. It names itself with <title> and
// <desc> (the <svg> is role="img" labelled by them), and every bar
// carries its own <title> with its date and count, which screen readers
// and pointer hover show.
package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is one day of a trend.
type Point struct {
	Day   time.Time
	Count int
}

// Bars is a daily bar chart.
type Bars struct {
	// ID prefixes the ids of the title and description, so several
	// charts can share a page. It must be a valid XML name.
	ID string
	// Title names the chart; Desc describes it in a sentence (both
	// required by screen readers, both in the page's language).
	Title string
	Desc  string
	// Points are the days, in order, one bar each.
	Points []Point
	// Empty is the text shown instead of bars when there are no points.
	Empty string
	// DateLabel writes a day on the axis and in each bar's title; nil
	// writes "2/1" (day/month), which needs no language.
	DateLabel func(time.Time) string
	// Number writes a count; nil groups digits by thousands with a dot,
	// as Indonesian does.
	Number func(int) string
}

// Geometry, in viewBox units.
const (
	width     = 360
	height    = 200
	top       = 12
	right     = 8
	bottom    = 28 // room for the date labels
	fontSize  = 11
	charWidth = 6.6 // a generous digit width at fontSize
	yTicks    = 4   // grid steps at most
	maxXLabel = 5   // date labels at most, so they never overlap
)

// SVG draws the chart.
func (c Bars) SVG() ([]byte, error) {
	if c.Title == "" {
		return nil, errors.New("chart without a title")
	}
	if c.ID == "" || strings.ContainsAny(c.ID, " \"'<>&") {
		return nil, fmt.Errorf("chart id %q is not a plain name", c.ID)
	}
	for i, p := range c.Points {
		if p.Count < 0 {
			return nil, fmt.Errorf("point %d: negative count %d", i, p.Count)
		}
		if i > 0 && !p.Day.After(c.Points[i-1].Day) {
			return nil, fmt.Errorf("point %d: days out of order", i)
		}
	}
	date, number := c.DateLabel, c.Number
	if date == nil {
		date = func(t time.Time) string { return fmt.Sprintf("%d/%d", t.Day(), int(t.Month())) }
	}
	if number == nil {
		number = groupDigits
	}

	peak := 0
	for _, p := range c.Points {
		peak = max(peak, p.Count)
	}
	// The axis ends at the first step at or above the peak: at most
	// yTicks steps, and never twice the peak.
	step := niceStep(peak)
	yMax := max(step, (peak+step-1)/step*step)
	// The left margin fits the widest count label.
	left := float64(len(number(yMax)))*charWidth + 10
	plotW := width - left - right
	plotH := float64(height - top - bottom)
	y := func(v int) float64 { return float64(top) + plotH*(1-float64(v)/float64(yMax)) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title %s-desc" font-family="sans-serif" font-size="%d">`,
		width, height, c.ID, c.ID, fontSize)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, c.ID, esc(c.Title), c.ID, esc(c.Desc))

	// The count axis: grid lines with their labels.
	b.WriteString(`<g class="y-axis" fill="#444" stroke="#ddd" text-anchor="end">`)
	for v := 0; v <= yMax; v += step {
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, num(left), num(width-right), num(y(v)), num(y(v)))
		fmt.Fprintf(&b, `<text class="y-label" x="%s" y="%s" stroke="none" dy="0.35em">%s</text>`, num(left-4), num(y(v)), esc(number(v)))
	}
	b.WriteString(`</g>`)

	if len(c.Points) == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%s" y="%s" text-anchor="middle" fill="#444">%s</text>`,
			num(left+plotW/2), num(float64(top)+plotH/2), esc(c.Empty))
		b.WriteString(`</svg>`)
		return b.Bytes(), nil
	}

	slot := plotW / float64(len(c.Points))
	barW := math.Max(slot*0.8, 0.5)
	b.WriteString(`<g class="bars" fill="#1f6feb">`)
	for i, p := range c.Points {
		x := left + slot*float64(i) + (slot-barW)/2
		fmt.Fprintf(&b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s"><title>%s: %s</title></rect>`,
			num(x), num(y(p.Count)), num(barW), num(y(0)-y(p.Count)), esc(date(p.Day)), esc(number(p.Count)))
	}
	b.WriteString(`</g>`)

	// The day axis: the first and last day and evenly spaced ones between.
	fmt.Fprintf(&b, `<g class="x-axis" fill="#444" text-anchor="middle"><line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#888"/>`,
		num(left), num(width-right), num(y(0)), num(y(0)))
	for _, i := range labelled(len(c.Points)) {
		fmt.Fprintf(&b, `<text class="x-label" x="%s" y="%s">%s</text>`,
			num(left+slot*(float64(i)+0.5)), num(float64(height-bottom)+16), esc(date(c.Points[i].Day)))
	}
	b.WriteString(`</g></svg>`)
	return b.Bytes(), nil
}

// labelled picks the indexes of the points whose dates the axis shows.
func labelled(n int) []int {
	if n <= maxXLabel {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, maxXLabel)
	for k := range out {
		out[k] = k * (n - 1) / (maxXLabel - 1)
	}
	return out
}

// niceStep is the grid step for counts up to peak: 1, 2 or 5 times a
// power of ten, so that yTicks steps reach peak.
func niceStep(peak int) int {
	if peak <= yTicks {
		return 1
	}
	raw := float64(peak) / yTicks
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			return int(m * pow)
		}
	}
	return int(10 * pow)
}

// groupDigits writes 1234567 as "1.234.567".
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// num writes a coordinate with at most two decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
