package provision

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineProgress(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false, "import")
	p.Start(25)
	for range 25 {
		p.Add(1)
	}
	p.Finish()
	want := "import: 2 of 25 rows (8%)\nimport: 4 of 25 rows (16%)\n"
	if !strings.HasPrefix(b.String(), want) || !strings.HasSuffix(b.String(), "import: 25 of 25 rows (100%)\n") {
		t.Errorf("progress lines:\n%s", b.String())
	}
	if n := strings.Count(b.String(), "\n"); n != 13 { // every second row of 25 (a tenth rounds down to 2), then the end
		t.Errorf("%d progress lines, want 13:\n%s", n, b.String())
	}
}

// On a terminal the bar redraws one line in place.
func TestBarProgress(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true, "import")
	p.Start(100)
	p.Add(40)
	p.Add(60)
	p.Finish()
	out := b.String()
	if !strings.Contains(out, "import") || !strings.Contains(out, "100%") || !strings.Contains(out, "(100/100") || !strings.Contains(out, "\r") {
		t.Errorf("bar output %q, want a redrawn line reaching 100%% (100/100)", out)
	}
}
