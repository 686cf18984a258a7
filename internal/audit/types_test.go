package audit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Types lists every event type constant of types.go: a constant left out
// would be refused by `asnidp audit --type`.
func TestTypes_ListsEveryConstant(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	eventType := regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)
	var want []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				if eventType.MatchString(s) {
					want = append(want, s)
				}
			}
		}
	}
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatal("found no event type constants in types.go")
	}
	if diff := cmp.Diff(want, Types()); diff != "" {
		t.Errorf("Types() does not list the constants of types.go (-want +got):\n%s", diff)
	}
}

func TestFamilies(t *testing.T) {
	want := []string{"account", "client", "key", "login", "mfa", "operator", "password", "reset", "session", "token", "user"}
	if diff := cmp.Diff(want, Families()); diff != "" {
		t.Errorf("Families() mismatch (-want +got):\n%s", diff)
	}
}

func TestCheckFilter(t *testing.T) {
	for _, ok := range []string{LoginPassword, MFAReset, "mfa", "user", KeyRotated} {
		if err := CheckFilter(ok); err != nil {
			t.Errorf("CheckFilter(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "logn", "login.", "mfa.rest", "MFA", "login.password.x", "%"} {
		err := CheckFilter(bad)
		if err == nil {
			t.Errorf("CheckFilter(%q) = nil, want an error", bad)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, strconv.Quote(bad)) || !strings.Contains(msg, "families: account, client, key, login, mfa,") ||
			!strings.Contains(msg, "types: account.not_me, client.assertion_replayed, client.created, client.removed, client.request_object_refused, key.rotated, login.delayed,") {
			t.Errorf("CheckFilter(%q) = %q, want the filter quoted and every family and type listed", bad, msg)
		}
	}
}
