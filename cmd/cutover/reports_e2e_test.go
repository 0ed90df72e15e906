package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// junitSuites is the part of a JUnit file this test reads.
type junitSuites struct {
	Suites []struct {
		Name     string `xml:"name,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitSuites {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s junitSuites
	if err := xml.Unmarshal(b, &s); err != nil || len(s.Suites) != 1 {
		t.Fatalf("%s: %v, %d suites\n%s", path, err, len(s.Suites), b)
	}
	return s
}

// TestReportsForCI: --report junit=FILE writes one test case per stage,
// with the failure's text, and $GITHUB_STEP_SUMMARY gets a Markdown table
// of the stages. Not parallel: it sets the process's environment.
func TestReportsForCI(t *testing.T) {
	ns := cluster.Namespace(t)
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	file := writeFile(t, "web.yaml", webApp)
	ok, failed := filepath.Join(dir, "ok.xml"), filepath.Join(dir, "reports", "failed.xml")
	if r := deployWeb(t, ns, file, "7", "ready", 60, "--report", "junit="+ok); r.code != exitOK {
		t.Fatalf("deploy 7: exit %d", r.code)
	}
	if r := deployWeb(t, ns, file, "8", "never-ready", 2, "--report", "junit="+failed); r.code != exitRolledBack {
		t.Fatalf("deploy 8: exit %d, want %d", r.code, exitRolledBack)
	}
	cases := func(s junitSuites) (names []string, failures map[string]string) {
		failures = map[string]string{}
		for _, c := range s.Suites[0].Cases {
			names = append(names, c.Name)
			if c.Failure != nil {
				failures[c.Name] = c.Failure.Message
			}
		}
		return names, failures
	}
	names, failures := cases(readJUnit(t, ok))
	if want := []string{"Validate", "Apply", "Wait", "Result"}; !slices.Equal(names, want) || len(failures) != 0 {
		t.Errorf("the successful run's test cases %v (failures %v), want %v, none failed", names, failures, want)
	}
	names, failures = cases(readJUnit(t, failed))
	if want := []string{"Validate", "Apply", "Wait", "Rollback", "Result"}; !slices.Equal(names, want) {
		t.Errorf("the failed run's test cases %v, want %v", names, want)
	}
	if !strings.Contains(failures["Wait"], "web") || !strings.Contains(failures["Result"], "rolled back") {
		t.Errorf("failures %v: want Wait's naming the Deployment, and the result rolled back", failures)
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if md := string(b); strings.Count(md, "| Wait |") != 2 || !strings.Contains(md, "| Rollback |") {
		t.Errorf("step summary: want both runs' tables, the second with Rollback:\n%s", md)
	}
}
