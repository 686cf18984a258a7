package i18n

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCatalogs_SameKeys(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	id, en := c.Keys("id"), c.Keys("en")
	if len(id) == 0 {
		t.Fatal("Indonesian catalog is empty")
	}
	if diff := cmp.Diff(id, en); diff != "" {
		t.Errorf("catalog keys differ (-id +en):\n%s", diff)
	}
	for i := 1; i < len(id); i++ {
		if id[i] == id[i-1] {
			t.Errorf("key %q is defined twice", id[i])
		}
	}
}

// Every literal key a template uses ({{.L.T "key"}}) must exist.
func TestCatalogs_CoverTemplates(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	keys := c.Keys("id")
	re := regexp.MustCompile(`\.L\.T "([a-z0-9_.]+)"`)
	root := filepath.Join("..", "..", "templates")
	found := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".txt")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			found++
			if !slices.Contains(keys, m[1]) {
				t.Errorf("%s uses key %q, missing from the catalog", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no template keys found; the pattern no longer matches the templates")
	}
}

func TestLocalizer_Choice(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		prefs []string
		want  string
	}{
		{"default", nil, "id"},
		{"accept english", []string{"en-US,en;q=0.9"}, "en"},
		{"ui_locales first", []string{"id", "en-US"}, "id"},
		{"space separated ui_locales", []string{"fr en"}, "en"},
		{"garbage", []string{"%%%"}, "id"},
		{"unsupported only", []string{"fr"}, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Localizer(tc.prefs...).Lang(); got != tc.want {
				t.Errorf("Localizer(%q).Lang() = %q, want %q", tc.prefs, got, tc.want)
			}
		})
	}
	if got := c.Localizer("en").T("login.title"); got != "Sign in" {
		t.Errorf(`T("login.title") in English = %q, want "Sign in"`, got)
	}
	if got := c.Localizer().T("login.title"); got != "Masuk" {
		t.Errorf(`T("login.title") in Indonesian = %q, want "Masuk"`, got)
	}
}
