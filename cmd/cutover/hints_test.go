package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hint"
	"github.com/cutover/cutover/internal/strategy"
)

// printedAs is an error printed other than its chain says, as a redacted
// error is.
type printedAs struct {
	err  error
	text string
}

func (e printedAs) Error() string { return e.text }
func (e printedAs) Unwrap() error { return e.err }

func TestErrorText(t *testing.T) {
	selector := hint.New(hint.SelectorKey, "set the selector key")
	strict := hint.New(hint.Strict, "zero-downtime hazards refused in strict mode")
	guard := func(why string) error {
		return hint.New(hint.EndpointGuard, why+"; not needed with the endpoint guard off")
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"no hint", errors.New("rollout stuck"), "rollout stuck"},
		{"rollback off, at the end", &strategy.Failure{Cause: errors.New("rollout stuck")},
			"release failed: rollout stuck; not rolled back: rollback is off (--no-rollback)"},
		{"rolled back: no hint", &strategy.Failure{Cause: errors.New("rollout stuck"), RolledBack: true, Restored: []string{"Deployment/ns/web"}},
			"release failed: rollout stuck; rolled back Deployment/ns/web"},
		{"in the middle", fmt.Errorf("check env: %w", fmt.Errorf("service web has no selector key %q; %w (it selects %s)", "role", selector, "app=web")),
			`check env: service web has no selector key "role"; set the selector key (--selector-key) (it selects app=web)`},
		{"before a multi-line list", fmt.Errorf("%w: %w", strict, errors.Join(errors.New("a.yaml: no readiness probe"), errors.New("b.yaml: no preStop"))),
			"zero-downtime hazards refused in strict mode (--strict): a.yaml: no readiness probe\nb.yaml: no preStop"},
		{"two settings in place", fmt.Errorf("%w: scale-down-too-soon: %w", strict, hint.New(hint.ScaleDownDelay, "use a scale-down delay of at least 5s")),
			"zero-downtime hazards refused in strict mode (--strict): scale-down-too-soon: use a scale-down delay of at least 5s (--scale-down-delay)"},
		{"a cause with a hint under a failure", &strategy.Failure{Cause: fmt.Errorf("preflight: %w", strict), Untouched: true},
			"release failed: preflight: zero-downtime hazards refused in strict mode (--strict); production untouched"},
		{"each flag once, after the first words", fmt.Errorf("cannot patch (%w); cannot list (%w)", guard("resync"), guard("watch")),
			"cannot patch (resync; not needed with the endpoint guard off (--endpoint-guard=false)); cannot list (watch; not needed with the endpoint guard off)"},
		{"joined", errors.Join(fmt.Errorf("a.yaml: %w", hint.New(hint.ForceConflicts, "take these fields over by forcing the conflicts")),
			fmt.Errorf("b.yaml: %w", hint.New(hint.TakeOwnership, "have cutover take ownership of it"))),
			"a.yaml: take these fields over by forcing the conflicts (--force-conflicts)\nb.yaml: have cutover take ownership of it (--take-ownership)"},
		{"a command, not a flag", fmt.Errorf("removed in 1.16; %w", hint.New(hint.FixAPI, "an API fix can convert the files, for review")),
			"removed in 1.16; an API fix can convert the files, for review (cutover render --fix-api -f FILE)"},
		{"words masked: at the end", printedAs{err: fmt.Errorf("x; %w", hint.New(hint.StrictVars, "undefined variable hunter2 with strict variables on")),
			text: "x; undefined variable *** with strict variables on"},
			"x; undefined variable *** with strict variables on (--strict-vars)"},
		{"several at the end", printedAs{err: errors.Join(selector, hint.New(hint.Colors, "set the colors")), text: "masked"},
			"masked (--selector-key, --colors)"},
		{"a flag named already", fmt.Errorf("%w (--strict)", strict), "zero-downtime hazards refused in strict mode (--strict)"},
		{"--strict-vars does not name --strict", fmt.Errorf("undefined X (--strict-vars); %w", strict),
			"undefined X (--strict-vars); zero-downtime hazards refused in strict mode (--strict)"},
		{"a setting the table lacks", hint.New("blueGreen.future", "change the future"), "change the future (config key blueGreen.future)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := errorText(c.err); got != c.want {
				t.Errorf("errorText\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestFlagHints(t *testing.T) {
	delay, strict := string(hint.ScaleDownDelay), string(hint.Strict)
	cases := []struct {
		name string
		in   event.Event
		want event.Event
	}{
		{"no settings", event.Event{Type: event.Warning, Message: "m"}, event.Event{Type: event.Warning, Message: "m"}},
		{"a message", event.Event{Type: event.Warning, Message: "use a longer delay", Settings: []string{delay}},
			event.Event{Type: event.Warning, Message: "use a longer delay (--scale-down-delay)", Settings: []string{delay}}},
		{"an error, not the message", event.Event{Type: event.StageFinished, Message: "m", Error: "refused in strict mode: a\nb", Settings: []string{strict, delay}},
			event.Event{Type: event.StageFinished, Message: "m", Error: "refused in strict mode: a\nb (--strict, --scale-down-delay)", Settings: []string{strict, delay}}},
		{"named already", event.Event{Type: event.Result, Error: "refused in strict mode (--strict): a", Settings: []string{strict}},
			event.Event{Type: event.Result, Error: "refused in strict mode (--strict): a", Settings: []string{strict}}},
		{"no words", event.Event{Type: event.Warning, Settings: []string{strict}},
			event.Event{Type: event.Warning, Message: "(--strict)", Settings: []string{strict}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var col event.Collector
			flagHints(&col).Emit(c.in)
			got := col.Events()
			if len(got) != 1 || got[0].Message != c.want.Message || got[0].Error != c.want.Error || !slices.Equal(got[0].Settings, c.want.Settings) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestHintFlagsNameRealFlags: every setting the engine hints at has its
// words here, and each names a flag the command has.
func TestHintFlagsNameRealFlags(t *testing.T) {
	root := newRootCmd()
	for _, s := range hint.All() {
		words, ok := hintFlags[s]
		if !ok {
			t.Errorf("%s: no flag", s)
			continue
		}
		cmd, flag := "deploy", words
		if rest, isCommand := strings.CutPrefix(words, "cutover "); isCommand {
			cmd, flag, _ = strings.Cut(rest, " ")
			flag, _, _ = strings.Cut(flag, " ")
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		sub, _, err := root.Find([]string{cmd})
		if err != nil || sub.Flags().Lookup(name) == nil {
			t.Errorf("%s: %q: cutover %s has no flag --%s", s, words, cmd, name)
		}
	}
}
