package manifest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tree writes files (relative path -> content) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func cmNamed(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n"
}

func loadNames(ctx context.Context, opts Options) ([]string, error) {
	set, err := Load(ctx, opts)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range set.Objects {
		out = append(out, o.GetName())
	}
	return out, nil
}

func TestPaths(t *testing.T) {
	dir := tree(t, map[string]string{
		"z.yaml":               cmNamed("z"),
		"a.yml":                cmNamed("a"),
		"m.JSON":               `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"m"}}`,
		"README.md":            "# not a manifest",
		"env/dev/app.yaml":     cmNamed("dev-app"),
		"env/prod/app.yaml":    cmNamed("prod-app"),
		"env/prod/db.yaml":     cmNamed("prod-db"),
		"env/prod/x/deep.yaml": cmNamed("prod-deep"),
		"br[1].yaml":           cmNamed("bracket"),
		"empty/notes.txt":      "nothing",
	})
	in := func(rel string) string { return filepath.Join(dir, rel) }
	cases := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"directory: manifests only, lexical order, recursive", []string{dir}, []string{"a", "bracket", "dev-app", "prod-app", "prod-db", "prod-deep", "m", "z"}},
		{"glob: directories matched are walked", []string{in("env/*")}, []string{"dev-app", "prod-app", "prod-db", "prod-deep"}},
		{"glob with a class", []string{in("[az].y*ml")}, []string{"a", "z"}},
		{"** at the start of a segment", []string{in("**/app.yaml")}, []string{"dev-app", "prod-app"}},
		{"** matches zero directories", []string{in("env/prod/**/*.yaml")}, []string{"prod-app", "prod-db", "prod-deep"}},
		{"** after a wildcard segment", []string{in("env/*/**/d*.yaml")}, []string{"prod-db", "prod-deep"}},
		{"** with a class", []string{in("env/**/[ab]*.yaml")}, []string{"dev-app", "prod-app"}},
		{"an existing name with glob characters is literal", []string{in("br[1].yaml")}, []string{"bracket"}},
		{"a glob that matches nothing", []string{in("br[2].yaml")}, nil},
		{"same file through a file, a glob and a directory", []string{in("a.yml"), in("*.yml"), dir}, []string{"a", "bracket", "dev-app", "prod-app", "prod-db", "prod-deep", "m", "z"}},
		{"path with dot segments", []string{in("env/../a.yml"), in("a.yml")}, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadNames(t.Context(), Options{Paths: tc.paths})
			if tc.want == nil { // a glob pattern that matches nothing is an error naming it
				var me *Error
				if !errors.As(err, &me) || me.File != tc.paths[0] {
					t.Errorf("err = %v, want an *Error naming %s", err, tc.paths[0])
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestRelativeDoubleStar(t *testing.T) {
	dir := tree(t, map[string]string{"deploy/a/x.yaml": cmNamed("x"), "deploy/y.yaml": cmNamed("y"), "other.yaml": cmNamed("o")})
	t.Chdir(dir)
	for _, pattern := range []string{"deploy/**/*.yaml", "./deploy/**/*.yaml", "**/*.yaml"} {
		got, err := loadNames(t.Context(), Options{Paths: []string{pattern}})
		want := []string{"x", "y"}
		if pattern == "**/*.yaml" {
			want = []string{"x", "y", "o"}
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, %v; want %v", pattern, got, err, want)
		}
	}
}

func TestSymlinkReadOnce(t *testing.T) {
	dir := tree(t, map[string]string{"real/app.yaml": cmNamed("app")})
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(filepath.Join(dir, "real/app.yaml"), link); err != nil {
		t.Skip("no symlinks:", err)
	}
	got, err := loadNames(t.Context(), Options{Paths: []string{filepath.Join(dir, "real"), link}})
	if err != nil || !reflect.DeepEqual(got, []string{"app"}) {
		t.Errorf("got %v, %v; want the file once", got, err)
	}
}

func TestStdin(t *testing.T) {
	got, err := loadNames(t.Context(), Options{Paths: []string{"-", "-"}, Stdin: strings.NewReader(cmNamed("in"))})
	if err != nil || !reflect.DeepEqual(got, []string{"in"}) {
		t.Errorf("got %v, %v; want stdin read once", got, err)
	}
	_, err = Load(t.Context(), Options{Paths: []string{"-"}})
	var me *Error
	if !errors.As(err, &me) || me.File != "<stdin>" {
		t.Errorf("nil Stdin: err = %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	dir := tree(t, map[string]string{
		"utf16.yaml":  "\xff\xfea\x00:\x00",
		"latin1.yaml": "name: caf\xe9\n",
		"nul.json":    "{\"a\": \"\x00\"}",
		"big.yaml":    cmNamed(strings.Repeat("x", 100)),
		"exact.yaml":  cmNamed("x"),
		"empty.yaml":  "# nothing here\n",
		"none/a.txt":  "x",
	})
	in := func(rel string) string { return filepath.Join(dir, rel) }
	exact := int64(len(cmNamed("x")))
	cases := []struct {
		name  string
		paths []string
		max   int64
		file  string
		text  string
	}{
		{"UTF-16", []string{in("utf16.yaml")}, 0, in("utf16.yaml"), "binary content"},
		{"invalid UTF-8", []string{in("latin1.yaml")}, 0, in("latin1.yaml"), "binary content"},
		{"NUL byte", []string{in("nul.json")}, 0, in("nul.json"), "binary content"},
		{"over the limit", []string{in("big.yaml")}, exact, in("big.yaml"), "larger than"},
		{"missing", []string{in("missing.yaml")}, 0, in("missing.yaml"), "no such file"},
		{"glob without match", []string{in("*.toml")}, 0, in("*.toml"), "no file matches"},
		{"** without match", []string{in("**/*.toml")}, 0, in("**/*.toml"), "no file matches"},
		{"** under a missing directory", []string{in("nope/**/*.yaml")}, 0, in("nope/**/*.yaml"), "no file matches"},
		{"bad pattern", []string{in("[.yaml")}, 0, in("[.yaml"), "bad pattern"},
		{"directory without manifests", []string{in("none")}, 0, in("none"), "no *.yaml"},
		{"no objects", []string{in("empty.yaml")}, 0, "", "no objects found in " + in("empty.yaml")},
		{"empty path", []string{in("exact.yaml"), ""}, 0, "", "empty path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(t.Context(), Options{Paths: tc.paths, MaxFileBytes: tc.max})
			var me *Error
			if !errors.As(err, &me) || me.File != tc.file || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v; want an *Error naming %q containing %q", err, tc.file, tc.text)
			}
		})
	}
	t.Run("exactly at the limit", func(t *testing.T) {
		if _, err := Load(t.Context(), Options{Paths: []string{in("exact.yaml")}, MaxFileBytes: exact}); err != nil {
			t.Error(err)
		}
	})
}

func TestCanceled(t *testing.T) {
	dir := tree(t, map[string]string{"a.yaml": cmNamed("a")})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Load(ctx, Options{Paths: []string{dir}}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestByteOrderMark(t *testing.T) {
	got, err := loadNames(t.Context(), Options{Paths: []string{"-"}, Stdin: strings.NewReader("\ufeff" + cmNamed("bom"))})
	if err != nil || !reflect.DeepEqual(got, []string{"bom"}) {
		t.Errorf("got %v, %v", got, err)
	}
}
