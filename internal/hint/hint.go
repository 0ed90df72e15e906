// Package hint lets the engine say which release setting would change an
// outcome without naming how a front end sets it. The engine's errors and
// events are read through the command line, a web dashboard and an
// in-cluster controller alike, so they never name a flag: an error says
// what to do in plain words ("set the selector key") and carries the
// Setting that does it; each front end words the hint its own way (the
// command line as --selector-key, a dashboard as a link to the field).
//
// An error hints by wrapping (Wrap, New, Errorf); the wrapped error's text
// is the words the hint belongs to, so a front end can name the setting
// right after them. Settings finds every hint in an error's tree. Events
// carry theirs as names in event.Event.Settings (see Names).
package hint

import (
	"errors"
	"fmt"
	"slices"
)

// Setting names a release setting the way the config file (cutover.yaml,
// package config) names its key, nested keys joined with a dot. Settings
// that are no key of the file are named in the same style.
type Setting string

// The settings the engine hints at.
const (
	SecretVars     Setting = "secretVars"
	StrictVars     Setting = "strictVars"
	NoRollback     Setting = "noRollback"
	Strict         Setting = "strict"
	ForceConflicts Setting = "forceConflicts"
	TakeOwnership  Setting = "takeOwnership" // no key of the file: a deploy option
	EndpointGuard  Setting = "endpointGuard.enabled"
	SelectorKey    Setting = "blueGreen.selectorKey"
	Colors         Setting = "blueGreen.colors"
	ScaleDownDelay Setting = "blueGreen.scaleDownDelay"
	FixAPI         Setting = "fixAPI" // no key of the file: converting removed apiVersions when rendering
	Resync         Setting = "resync" // no key of the file: nudging the EndpointSlice controller outside a deploy
)

// All returns every Setting this package defines, for front ends to check
// that they word each one.
func All() []Setting {
	return []Setting{SecretVars, StrictVars, NoRollback, Strict, ForceConflicts, TakeOwnership,
		EndpointGuard, SelectorKey, Colors, ScaleDownDelay, FixAPI, Resync}
}

// Error is an error that hints at a Setting. Its text is Err's: the words
// the hint belongs to.
type Error struct {
	Setting Setting
	Err     error
}

// Error returns the wrapped error's text.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// Wrap returns err hinting at s, or nil if err is nil.
func Wrap(s Setting, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Setting: s, Err: err}
}

// New returns an error with the given text that hints at s: typically
// the advice itself ("set the selector key"), wrapped with %w into the
// message it completes.
func New(s Setting, text string) error {
	return Wrap(s, errors.New(text))
}

// Errorf formats an error as fmt.Errorf does and hints at s.
func Errorf(s Setting, format string, args ...any) error {
	return Wrap(s, fmt.Errorf(format, args...))
}

// Find returns every hinting error in err's tree (%w wrapping, errors.Join
// and multiple %w included), in the order errors.Is visits them.
func Find(err error) []*Error {
	var out []*Error
	walk(err, func(e error) {
		if h, ok := e.(*Error); ok {
			out = append(out, h)
		}
	})
	return out
}

// Settings returns every Setting hinted anywhere in err's tree, each once,
// in the order Find finds them; nil when there are none.
func Settings(err error) []Setting {
	var out []Setting
	for _, h := range Find(err) {
		if !slices.Contains(out, h.Setting) {
			out = append(out, h.Setting)
		}
	}
	return out
}

// Names returns Settings(err) as strings, for event.Event.Settings.
func Names(err error) []string {
	var out []string
	for _, s := range Settings(err) {
		out = append(out, string(s))
	}
	return out
}

// walk calls visit on err and then on each error it wraps, depth first.
func walk(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, visit)
		}
	}
}
