package manifest

import (
	"errors"
	"io/fs"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	cause := errors.New("required")
	cases := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "app.yaml", Doc: 2, Line: 14, Field: "metadata.name", Err: cause}, "app.yaml: document 2, line 14: metadata.name: required"},
		{&Error{File: "app.yaml", Line: 3, Err: cause}, "app.yaml: line 3: required"},
		{&Error{File: "app.yaml", Doc: 1, Err: cause}, "app.yaml: document 1: required"},
		{&Error{Field: "kind", Err: cause}, "kind: required"},
		{&Error{Err: cause}, "required"},
		{&Error{File: "x"}, "x: invalid input"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	var err error = &Error{File: "a.yaml", Err: fs.ErrNotExist}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is does not see through *Error")
	}
}

func TestSourceString(t *testing.T) {
	cases := []struct {
		src  Source
		want string
	}{
		{Source{File: "deploy/app.yaml", Doc: 2, Line: 14}, "deploy/app.yaml, document 2 (line 14)"},
		{Source{File: stdinName, Doc: 1, Line: 1}, "<stdin>, document 1 (line 1)"},
		{Source{File: "a.yaml"}, "a.yaml"},
	}
	for _, tc := range cases {
		if got := tc.src.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
