package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKey is the Err of an *Error for a key the file may not have.
var ErrUnknownKey = errors.New("unknown key")

// Error locates a problem in the config file. Load's errors about the
// file's content are *Error values, joined with errors.Join when there are
// several.
type Error struct {
	File  string
	Line  int    // 1-based; 0 if not known
	Field string // the key's path, such as blueGreen.colors or checks[1].http.matches
	Err   error
	Hint  string // for an unknown key: the closest known key, if any
}

// Error formats as "cutover.yaml: line 9: blueGreen.colors: want two colors",
// or for an unknown key as
// `cutover.yaml: line 7: unknown key "blueGreen.colours" (did you mean "colors"?)`,
// leaving out the parts that are zero.
func (e *Error) Error() string {
	var parts []string
	if e.File != "" {
		parts = append(parts, e.File)
	}
	if e.Line > 0 {
		parts = append(parts, fmt.Sprintf("line %d", e.Line))
	}
	return strings.Join(append(parts, e.message()), ": ")
}

func (e *Error) message() string {
	if errors.Is(e.Err, ErrUnknownKey) {
		msg := fmt.Sprintf("%v %q", e.Err, e.Field)
		if e.Hint != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", e.Hint)
		}
		return msg
	}
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// problems collects the errors found in one file.
type problems struct {
	errs []*Error
}

func (p *problems) add(line int, field string, err error) {
	p.errs = append(p.errs, &Error{Line: line, Field: field, Err: err})
}

func (p *problems) addf(line int, field, format string, args ...any) {
	p.add(line, field, fmt.Errorf(format, args...))
}

// join returns the problems as one error, each naming file; nil for none.
func (p *problems) join(file string) error {
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		e.File = file
		errs[i] = e
	}
	return errors.Join(errs...)
}

// field returns the path of key under parent.
func field(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// index returns the path of item i of the list at parent.
func index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}
