package manifest

import (
	"sort"
	"strings"
)

// expansion is the result of substituting one string.
type expansion struct {
	out       string
	changed   bool     // any $ was processed
	undefined []string // names left as written
	whole     string   // name, when the input is exactly one defined variable reference
}

// expand substitutes $VAR and ${VAR} in s; $$ is a literal $. Undefined
// variables, and a $ that starts no reference, stay as written.
func expand(s string, v *Vars) expansion {
	if !strings.Contains(s, "$") {
		return expansion{out: s}
	}
	var b strings.Builder
	e := expansion{changed: true}
	refs := 0
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		name, width := reference(s[i:])
		switch {
		case width == 2 && name == "$":
			b.WriteByte('$')
		case name == "":
			b.WriteByte('$')
			width = 1
		default:
			refs++
			if val, ok := v.Lookup(name); ok {
				b.WriteString(val)
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

// reference parses a reference at the start of s (which begins with '$'):
// "$$" gives ("$", 2); "${NAME}" and "$NAME" give (NAME, width); anything
// else ("", 0).
func reference(s string) (string, int) {
	if len(s) < 2 {
		return "", 0
	}
	if s[1] == '$' {
		return "$", 2
	}
	if s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end > 2 && varName.MatchString(s[2:end]) {
			return s[2:end], end + 1
		}
		return "", 0
	}
	n := 1
	for n < len(s) && isNameByte(s[n], n == 1) {
		n++
	}
	if n == 1 {
		return "", 0
	}
	return s[1:n], n
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

// Substitute expands variables in a plain string (a check's URL, say) and
// returns the sorted names it left undefined.
func Substitute(s string, v *Vars) (string, []string) {
	e := expand(s, v)
	names := append([]string(nil), e.undefined...)
	sort.Strings(names)
	return e.out, names
}
