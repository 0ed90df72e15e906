// Package manifest reads Kubernetes resource files (files, globs with **,
// directories, stdin; multi-document YAML, JSON, List kinds) into objects,
// substituting variables safely.
//
// Safety model: the text is parsed first and variables are substituted
// inside parsed scalars only (keys and values), never into raw text. A value
// therefore cannot add keys, items or documents, whatever it holds
// (newlines, ": ", "- ", "#", "---", quotes, braces). A plain scalar that is
// exactly one variable takes the value's scalar type (int, float, bool,
// null), never a map or a list; anything else stays a string. Anchors,
// aliases, merge keys and custom tags are refused.
package manifest

import (
	"fmt"
	"strings"
)

// Error locates a problem in the input. Every error Load returns for bad
// input is, or wraps, an *Error.
type Error struct {
	File  string
	Doc   int // 1-based document number in the file; 0 if not known
	Line  int // 1-based line; 0 if not known
	Field string
	Err   error
}

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
	parts = append(parts, e.Err.Error())
	return strings.Join(parts, ": ")
}

func (e *Error) Unwrap() error { return e.Err }

// Source says where an object came from.
type Source struct {
	File string // "<stdin>" for standard input
	Doc  int    // 1-based document number
	Line int    // line where the object starts
}

func (s Source) String() string {
	return fmt.Sprintf("%s, document %d (line %d)", s.File, s.Doc, s.Line)
}

func (s Source) errorf(line int, field, format string, args ...any) *Error {
	if line == 0 {
		line = s.Line
	}
	return &Error{File: s.File, Doc: s.Doc, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
}
