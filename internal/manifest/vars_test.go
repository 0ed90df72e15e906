package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVarsLayers: env < var-file < --var, whatever the order of the calls;
// within a layer the last call wins.
func TestVarsLayers(t *testing.T) {
	file := writeTemp(t, "vars.env", "X=file\nY=file\n")
	later := writeTemp(t, "later.env", "Y=later-file\n")
	env := func(v *Vars) error { v.SetEnv([]string{"X=env", "Y=env", "Z=env"}); return nil }
	files := func(v *Vars) error {
		if err := v.LoadFile(file); err != nil {
			return err
		}
		return v.LoadFile(later)
	}
	flag := func(v *Vars) error { return v.Set("X=flag") }
	orders := map[string][]func(*Vars) error{
		"env, file, flag": {env, files, flag},
		"flag, file, env": {flag, files, env},
		"file, flag, env": {files, flag, env},
		"flag, env, file": {flag, env, files},
	}
	want := map[string]string{"X": "flag", "Y": "later-file", "Z": "env"}
	for name, steps := range orders {
		t.Run(name, func(t *testing.T) {
			v := NewVars()
			for _, step := range steps {
				if err := step(v); err != nil {
					t.Fatal(err)
				}
			}
			for k, w := range want {
				if got, ok := v.Lookup(k); !ok || got != w {
					t.Errorf("%s = %q, %v; want %q", k, got, ok, w)
				}
			}
		})
	}
}

func TestVarsSetLastWins(t *testing.T) {
	v := NewVars()
	for _, kv := range []string{"A=1", "A=2", "B=", "C=x=y"} {
		if err := v.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"A": "2", "B": "", "C": "x=y"} {
		if got, ok := v.Lookup(name); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, ok, want)
		}
	}
	var nilVars *Vars
	if _, ok := nilVars.Lookup("A"); ok {
		t.Error("a nil *Vars defined a variable")
	}
}

func TestLoadFile(t *testing.T) {
	content := strings.Join([]string{
		"# a comment",
		"",
		"   ",
		"PLAIN=value",
		"export EXPORTED=yes",
		"export\tTABBED=tab",
		"SPACED = around  ",
		`DOUBLE="a b # not a comment"`,
		`SINGLE='it is "quoted"'`,
		`QUOTED_COMMENT="v" # comment`,
		"HASH=a#b # kept",
		"EMPTY=",
		`EMPTY_QUOTES=""`,
		"DOLLAR=$OTHER",
		"CRLF=x\r",
		"exportNAME=not-an-export-prefix",
	}, "\n")
	v := NewVars()
	if err := v.LoadFile(writeTemp(t, "vars.env", content)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN": "value", "EXPORTED": "yes", "TABBED": "tab", "SPACED": "around",
		"DOUBLE": "a b # not a comment", "SINGLE": `it is "quoted"`, "QUOTED_COMMENT": "v",
		"HASH": "a#b # kept", "EMPTY": "", "EMPTY_QUOTES": "", "DOLLAR": "$OTHER", "CRLF": "x",
		"exportNAME": "not-an-export-prefix",
	}
	for name, w := range want {
		if got, ok := v.Lookup(name); !ok || got != w {
			t.Errorf("%s = %q, %v; want %q", name, got, ok, w)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	cases := []struct {
		name, content string
		line          int
		text          string
	}{
		{"no equals", "A=1\njust words\n", 2, "want KEY=VALUE"},
		{"bad name", "A=1\n\n1A=2\n", 3, "want KEY=VALUE"},
		{"dash in name", "MY-VAR=1\n", 1, "want KEY=VALUE"},
		{"unterminated", `A="open` + "\n", 1, "unterminated"},
		{"text after quote", `A="x" y` + "\n", 1, "after the closing quote"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "bad.env", tc.content)
			err := NewVars().LoadFile(path)
			var me *Error
			if !errors.As(err, &me) || me.File != path || me.Line != tc.line || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v; want file %s line %d containing %q", err, path, tc.line, tc.text)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		err := NewVars().LoadFile(filepath.Join(t.TempDir(), "nope.env"))
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.env") {
			t.Errorf("err = %v; want a not-exist error naming the file", err)
		}
	})
}

func TestSetErrors(t *testing.T) {
	for _, kv := range []string{"", "NOVALUE", "=v", "1A=v", "A-B=v", "A B=v", "${A}=v"} {
		if err := NewVars().Set(kv); err == nil {
			t.Errorf("Set(%q) accepted", kv)
		}
	}
}
