package manifest

import (
	"fmt"
	"strings"
)

// Error locates a problem in the input. Every error Load returns for bad
// input is, or wraps, an *Error.
type Error struct {
	File  string
	Doc   int    // 1-based document number in the file; 0 if not known
	Line  int    // 1-based line; 0 if not known
	Field string // field path such as spec.template.spec.containers[0].image
	Err   error
}

// Error formats as "app.yaml: document 2, line 14: metadata.name: required",
// leaving out the parts that are zero.
func (e *Error) Error() string {
	var parts []string
	if e.File != "" {
		parts = append(parts, e.File)
	}
	var at []string
	if e.Doc > 0 {
		at = append(at, fmt.Sprintf("document %d", e.Doc))
	}
	if e.Line > 0 {
		at = append(at, fmt.Sprintf("line %d", e.Line))
	}
	if len(at) > 0 {
		parts = append(parts, strings.Join(at, ", "))
	}
	if e.Field != "" {
		parts = append(parts, e.Field)
	}
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	} else {
		parts = append(parts, "invalid input")
	}
	return strings.Join(parts, ": ")
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Source says where an object came from.
type Source struct {
	File string // "<stdin>" for standard input
	Doc  int    // 1-based document number in the file
	Line int    // line where the object starts
}

// String formats as "deploy/app.yaml, document 2 (line 14)".
func (s Source) String() string {
	out := s.File
	if s.Doc > 0 {
		out += fmt.Sprintf(", document %d", s.Doc)
	}
	if s.Line > 0 {
		out += fmt.Sprintf(" (line %d)", s.Line)
	}
	return out
}

// errorf returns an *Error at this source; line 0 means the source's line.
func (s Source) errorf(line int, field, format string, args ...any) *Error {
	if line == 0 {
		line = s.Line
	}
	return &Error{File: s.File, Doc: s.Doc, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
}

// wrap returns err as an *Error at this source.
func (s Source) wrap(line int, field string, err error) *Error {
	if line == 0 {
		line = s.Line
	}
	return &Error{File: s.File, Doc: s.Doc, Line: line, Field: field, Err: err}
}
