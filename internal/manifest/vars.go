package manifest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Layers of variable sources; a higher layer wins whatever the call order.
const (
	layerEnv = iota
	layerFile
	layerFlag
)

type value struct {
	v     string
	layer int
}

// Vars holds variable values from three layers: the environment, then
// --var-file, then --var. A value from a higher layer wins whatever the
// order of the calls; within a layer, the last call wins. Vars is not safe
// for concurrent writes.
type Vars struct {
	values map[string]value
}

// NewVars returns an empty set of variables.
func NewVars() *Vars { return &Vars{values: map[string]value{}} }

func (v *Vars) put(name, val string, layer int) {
	if cur, ok := v.values[name]; ok && cur.layer > layer {
		return
	}
	v.values[name] = value{val, layer}
}

// SetEnv adds the environment (os.Environ form), the lowest precedence.
// Entries whose name is not a valid variable name are ignored.
func (v *Vars) SetEnv(environ []string) {
	for _, kv := range environ {
		if name, val, ok := strings.Cut(kv, "="); ok && varName.MatchString(name) {
			v.put(name, val, layerEnv)
		}
	}
}

// LoadFile adds KEY=VALUE lines from path, above the environment and below
// Set. Blank lines and lines starting with # are skipped; an "export "
// prefix is allowed; a value wrapped in single or double quotes loses the
// quotes (no escapes are processed) and may be followed by a # comment. An
// unquoted value is taken verbatim, # included. Values are never expanded.
func (v *Vars) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{File: path, Err: pathErr(err)}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		name, val, ok, err := parseVarLine(sc.Text())
		if err != nil {
			return &Error{File: path, Line: n, Err: err}
		}
		if ok {
			v.put(name, val, layerFile)
		}
	}
	if err := sc.Err(); err != nil {
		return &Error{File: path, Err: fmt.Errorf("read: %w", err)}
	}
	return nil
}

// parseVarLine parses one line of a variables file; ok is false for blank
// lines and comments.
func parseVarLine(line string) (name, val string, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false, nil
	}
	if rest, found := strings.CutPrefix(line, "export"); found && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		line = strings.TrimSpace(rest)
	}
	name, val, found := strings.Cut(line, "=")
	name = strings.TrimSpace(name)
	if !found || !varName.MatchString(name) {
		return "", "", false, errors.New("want KEY=VALUE with KEY like [A-Za-z_][A-Za-z0-9_]*")
	}
	val, err = unquote(strings.TrimSpace(val))
	if err != nil {
		return "", "", false, fmt.Errorf("%s: %w", name, err)
	}
	return name, val, true, nil
}

// unquote removes one pair of surrounding quotes: the value ends at the
// first matching quote, after which only a # comment may follow.
func unquote(s string) (string, error) {
	if s == "" || (s[0] != '"' && s[0] != '\'') {
		return s, nil
	}
	end := 1 + strings.IndexByte(s[1:], s[0])
	if end == 0 {
		return "", fmt.Errorf("unterminated %c quote", s[0])
	}
	if rest := strings.TrimSpace(s[end+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
		return "", errors.New("unexpected text after the closing quote (the value is not shown: it may be a secret)")
	}
	return s[1:end], nil
}

// Set adds "K=V" from --var, the highest precedence.
func (v *Vars) Set(kv string) error {
	name, val, ok := strings.Cut(kv, "=")
	if !ok {
		return errors.New("want K=V")
	}
	if !varName.MatchString(name) {
		return fmt.Errorf("bad variable name %q: want [A-Za-z_][A-Za-z0-9_]*", name)
	}
	v.put(name, val, layerFlag)
	return nil
}

// Lookup returns a variable's value. A nil *Vars defines nothing.
func (v *Vars) Lookup(name string) (string, bool) {
	if v == nil {
		return "", false
	}
	val, ok := v.values[name]
	return val.v, ok
}
