package manifest

// Messages for bad input found in the e2e bad-input corpus
// (cmd/cutover/badinput_e2e_test.go).

import (
	"strings"
	"testing"
)

func TestNoObjectsNamesStandardInput(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "---\n---\n"} {
		_, err := Load(t.Context(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(in)})
		if err == nil || !strings.Contains(err.Error(), "no objects found in standard input") {
			t.Errorf("stdin %q: err = %v, want no objects found in standard input", in, err)
		}
	}
}

func TestUnclosedQuoteIsNamed(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a: 1\nb: \"open\nc: 2\n", `<stdin>: document 1, line 2: malformed YAML: found unexpected end of stream: a quoted string is not closed`},
		{"a: 'open\n---\nb: 2\n", `<stdin>: document 1, line 2: malformed YAML: found unexpected document indicator: a quoted string is not closed before a --- line`},
	}
	for _, tc := range cases {
		_, err := Load(t.Context(), Options{Paths: []string{"-"}, Stdin: strings.NewReader(tc.in)})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v\nwant %s", tc.in, err, tc.want)
		}
	}
}
