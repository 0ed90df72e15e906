package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// commandLine finds a cutover command in a line of a CI file.
var commandLine = regexp.MustCompile(`\bcutover ((deploy|promote|abort|approve|reject|status|history|rollback|render|endpoints)\b.*)$`)

// githubExpression is a GitHub Actions ${{ }} expression, which GitHub
// replaces before the shell runs.
var githubExpression = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

// exampleCommands returns the cutover command lines of a CI file, with
// backslash continuations joined, comment lines skipped and GitHub's
// expressions replaced, each split as a shell would (quotes, no
// expansion). The closing quote of the host language's string (Jenkins'
// sh "...") is dropped.
func exampleCommands(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := githubExpression.ReplaceAllString(strings.ReplaceAll(string(b), "\\\n", " "), "EXPR")
	var out [][]string
	for _, line := range strings.Split(text, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//") {
			continue
		}
		m := commandLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cmd := strings.TrimSpace(m[1])
		words, ok := shellWords(cmd)
		if !ok && strings.ContainsAny(cmd[len(cmd)-1:], `"'`) { // the host string's closing quote
			words, ok = shellWords(cmd[:len(cmd)-1])
		}
		if !ok {
			t.Fatalf("%s: unbalanced quotes in %q", path, cmd)
		}
		out = append(out, words)
	}
	return out
}

// shellWords splits s into words as sh does for quotes; it expands
// nothing. ok is false when a quote is not closed.
func shellWords(s string) (words []string, ok bool) {
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, quote == 0
}

// TestExampleCommandLinesParse: every cutover command line in the CI
// examples parses with the real flag set and arguments check.
func TestExampleCommandLinesParse(t *testing.T) {
	files := map[string][]string{ // each file's commands that must be there
		"../../examples/jenkins/Jenkinsfile.blue-green":     {"deploy", "abort", "promote", "status"},
		"../../examples/jenkins/Jenkinsfile.rolling-update": {"deploy"},
		"../../examples/github-actions/blue-green.yml":      {"deploy", "promote", "status"},
		"../../examples/github-actions/abort.yml":           {"abort"},
		"../../examples/gitlab/.gitlab-ci.yml":              {"deploy", "promote", "abort"},
	}
	for path, want := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			seen := map[string]bool{}
			for _, args := range exampleCommands(t, path) {
				seen[args[0]] = true
				cmd, rest, err := newRootCmd().Find(args)
				if err != nil {
					t.Errorf("%q: %v", args, err)
					continue
				}
				if err := cmd.ParseFlags(rest); err != nil {
					t.Errorf("%q: %v", args, err)
					continue
				}
				if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
					t.Errorf("%q: %v", args, err)
				}
			}
			for _, c := range want {
				if !seen[c] {
					t.Errorf("no cutover %s command found (found %v)", c, seen)
				}
			}
		})
	}
}
