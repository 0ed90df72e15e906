package event

import (
	"strings"
	"testing"
)

func TestMaskerMasksEscapedForms(t *testing.T) {
	secret := `pa"ss\word`
	cases := []struct{ name, in string }{
		{"as given", "token " + secret + " end"},
		{"Go-quoted by the API server", `invalid value: "pa\"ss\\word"`},
		{"JSON-escaped", `{"value":"pa\"ss\\word"}`},
	}
	mask := Masker([]string{secret, ""})
	for _, c := range cases {
		got := mask(c.in)
		for _, form := range secretForms(secret) {
			if strings.Contains(got, form) {
				t.Errorf("%s: %q still holds %q", c.name, got, form)
			}
		}
		if !strings.Contains(got, "***") {
			t.Errorf("%s: %q masks nothing", c.name, got)
		}
	}
}
