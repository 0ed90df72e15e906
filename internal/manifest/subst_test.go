package manifest

import (
	"slices"
	"testing"
)

func vars(kv ...string) *Vars {
	v := NewVars()
	for _, s := range kv {
		if err := v.Set(s); err != nil {
			panic(err)
		}
	}
	return v
}

func TestExpand(t *testing.T) {
	v := vars("A=1", "NAME=web", "EMPTY=")
	cases := []struct {
		in, out   string
		undefined []string
		whole     string
	}{
		{"plain", "plain", nil, ""},
		{"$A", "1", nil, "A"},
		{"${A}", "1", nil, "A"},
		{"x-${NAME}-y", "x-web-y", nil, ""},
		{"$NAME.example.com", "web.example.com", nil, ""},
		{"$$A", "$A", nil, ""},
		{"$$$A", "$1", nil, ""},
		{"cost: 5$", "cost: 5$", nil, ""},
		{"$1abc", "$1abc", nil, ""},
		{"${}", "${}", nil, ""},
		{"${A", "${A", nil, ""},
		{"${A-b}", "${A-b}", nil, ""},
		{"$host", "$host", []string{"host"}, ""},
		{"${UNSET}/x", "${UNSET}/x", []string{"UNSET"}, ""},
		{"${EMPTY}", "", nil, "EMPTY"},
		{"$A$A", "11", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			e := expand(tc.in, v)
			if e.out != tc.out || !slices.Equal(e.undefined, tc.undefined) || e.whole != tc.whole {
				t.Errorf("expand(%q) = %q, undefined %v, whole %q; want %q, %v, %q", tc.in, e.out, e.undefined, e.whole, tc.out, tc.undefined, tc.whole)
			}
		})
	}
}

func TestVarsPrecedence(t *testing.T) {
	v := NewVars()
	if err := v.Set("X=flag"); err != nil {
		t.Fatal(err)
	}
	v.SetEnv([]string{"X=env", "Y=env", "BAD-NAME=1", "Z"})
	if got, _ := v.Lookup("X"); got != "flag" {
		t.Errorf("X = %q: --var must win over the environment whatever the order", got)
	}
	if got, _ := v.Lookup("Y"); got != "env" {
		t.Errorf("Y = %q", got)
	}
	if _, ok := v.Lookup("BAD-NAME"); ok {
		t.Error("an invalid name was taken from the environment")
	}
	for _, bad := range []string{"noequals", "1X=2", "=v", "A B=1"} {
		if err := v.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}
