package hint

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
)

func TestSettings(t *testing.T) {
	selector := New(SelectorKey, "set the selector key")
	strict := New(Strict, "zero-downtime hazards refused in strict mode")
	cases := []struct {
		name string
		err  error
		want []Setting
	}{
		{"nil", nil, nil},
		{"no hint", errors.New("plain"), nil},
		{"the hint itself", selector, []Setting{SelectorKey}},
		{"wrapped with %w", fmt.Errorf("service web has no selector key; %w", selector), []Setting{SelectorKey}},
		{"wrapped twice", fmt.Errorf("check env: %w", fmt.Errorf("a; %w", selector)), []Setting{SelectorKey}},
		{"formatted with %v loses it", fmt.Errorf("a; %v", selector), nil},
		{"errors.Join, in order", errors.Join(errors.New("a"), strict, fmt.Errorf("b: %w", selector)), []Setting{Strict, SelectorKey}},
		{"several %w", fmt.Errorf("%w: %w", strict, New(ScaleDownDelay, "use a longer delay")), []Setting{Strict, ScaleDownDelay}},
		{"a hint wrapping a hint, outer first", Wrap(NoRollback, fmt.Errorf("x: %w", selector)), []Setting{NoRollback, SelectorKey}},
		{"each once", errors.Join(selector, fmt.Errorf("again: %w", selector), strict), []Setting{SelectorKey, Strict}},
		{"Errorf", fmt.Errorf("outer: %w", Errorf(Colors, "set the colors (%d given)", 1)), []Setting{Colors}},
		{"Errorf wrapping a hint", Errorf(Colors, "x: %w", strict), []Setting{Colors, Strict}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Settings(c.err); !slices.Equal(got, c.want) {
				t.Errorf("Settings = %q, want %q", got, c.want)
			}
			want := make([]string, 0, len(c.want))
			for _, s := range c.want {
				want = append(want, string(s))
			}
			if got := Names(c.err); !slices.Equal(got, want) {
				t.Errorf("Names = %q, want %q", got, want)
			}
		})
	}
}

func TestErrorKeepsTextAndChain(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		wantText string
		wantIs   error
	}{
		{"New", New(NoRollback, "rollback is off"), "rollback is off", nil},
		{"Wrap", Wrap(ForceConflicts, fmt.Errorf("conflict: %w", io.EOF)), "conflict: EOF", io.EOF},
		{"Errorf", Errorf(StrictVars, "undefined variable %s: %w", "X", io.ErrUnexpectedEOF), "undefined variable X: unexpected EOF", io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := fmt.Errorf("run: %w", c.err)
			if got := c.err.Error(); got != c.wantText {
				t.Errorf("text %q, want %q", got, c.wantText)
			}
			var h *Error
			if !errors.As(outer, &h) || h.Error() != c.wantText {
				t.Errorf("errors.As found %v", h)
			}
			if c.wantIs != nil && !errors.Is(outer, c.wantIs) {
				t.Errorf("the chain lost %v", c.wantIs)
			}
		})
	}
}

func TestWrapNil(t *testing.T) {
	if err := Wrap(Strict, nil); err != nil {
		t.Errorf("Wrap(nil) = %v, want nil", err)
	}
}

func TestFindKeepsEveryHint(t *testing.T) {
	a, b := New(Strict, "a"), New(Strict, "b")
	got := Find(errors.Join(a, fmt.Errorf("x: %w", b)))
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("Find = %v, want both hints of the same setting, in order", got)
	}
}

func TestAllIsUnique(t *testing.T) {
	all := All()
	for i, s := range all {
		if s == "" || slices.Contains(all[:i], s) {
			t.Errorf("setting %q empty or listed twice", s)
		}
	}
}
