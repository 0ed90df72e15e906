package manifest

import (
	"slices"
	"strings"
)

// expansion is the result of substituting one string.
type expansion struct {
	out       string
	changed   bool     // out differs from the input
	undefined []string // names left as written, in order of appearance
	whole     string   // the name, when the input is exactly one reference to a defined variable
}

// expand substitutes $VAR and ${VAR} in s; $$ is a literal $. Undefined
// variables, and a $ that starts no reference, stay as written. Values are
// inserted verbatim and never scanned again.
func expand(s string, v *Vars) expansion {
	if !strings.Contains(s, "$") {
		return expansion{out: s}
	}
	var b strings.Builder
	var e expansion
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		name, width := reference(s[i:])
		switch {
		case name == "$":
			b.WriteByte('$')
			e.changed = true
		case name == "":
			b.WriteByte('$')
			width = 1
		default:
			if val, ok := v.Lookup(name); ok {
				b.WriteString(val)
				e.changed = true
				if width == len(s) {
					e.whole = name
				}
			} else {
				b.WriteString(s[i : i+width])
				e.undefined = append(e.undefined, name)
			}
		}
		i += width
	}
	e.out = b.String()
	return e
}

// reference parses a reference at the start of s, which begins with '$':
// "$$" gives ("$", 2); "${NAME}" and "$NAME" give (NAME, width); anything
// else gives ("", 0).
func reference(s string) (string, int) {
	if len(s) < 2 {
		return "", 0
	}
	switch s[1] {
	case '$':
		return "$", 2
	case '{':
		// Scan the name only (never ahead to a far "}"), so that many "${"
		// in a long scalar stay linear.
		n := nameLen(s[2:])
		if n > 0 && 2+n < len(s) && s[2+n] == '}' {
			return s[2 : 2+n], n + 3
		}
		return "", 0
	}
	n := nameLen(s[1:])
	if n == 0 {
		return "", 0
	}
	return s[1 : 1+n], 1 + n
}

// nameLen returns the length of the variable name at the start of s.
func nameLen(s string) int {
	n := 0
	for n < len(s) && isNameByte(s[n], n == 0) {
		n++
	}
	return n
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'):
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// Substitute expands $VAR, ${VAR} and $$ in a plain string (a check's URL,
// say) and returns the sorted, unique names it left undefined. A nil v
// means no substitution at all: s is returned unchanged.
func Substitute(s string, v *Vars) (out string, undefined []string) {
	if v == nil {
		return s, nil
	}
	e := expand(s, v)
	return e.out, sortedUnique(e.undefined)
}

func sortedUnique(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}
