package gobuild

import (
	"context"
	"debug/buildinfo"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The built command carries the race setting of the test binary that built
// it: its build info says so.
func TestBuildMatchesRace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a command")
	}
	out := filepath.Join(t.TempDir(), "bin")
	if err := Build(context.Background(), Options{Package: "./testdata/hello", Out: out}); err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := false
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			got = true
		}
	}
	if got != Race {
		t.Fatalf("built with -race=%v, the test binary with -race=%v", got, Race)
	}
}

func TestBuildNamesThePackageOnFailure(t *testing.T) {
	err := Build(context.Background(), Options{Package: "./testdata/missing", Out: filepath.Join(t.TempDir(), "bin")})
	if err == nil {
		t.Fatal("building a missing package succeeded")
	}
	if _, statErr := os.Stat("testdata/missing"); statErr == nil {
		t.Fatal("testdata/missing exists")
	}
	if want := "./testdata/missing"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}
