package manifest

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Layers of variable sources; a later layer wins whatever the call order.
const (
	layerEnv = iota
	layerFile
	layerFlag
)

type value struct {
	v     string
	layer int
}

// Vars holds variable values: the environment, then --var-file, then --var.
type Vars struct {
	values map[string]value
}

// NewVars returns an empty set.
func NewVars() *Vars { return &Vars{values: map[string]value{}} }

func (v *Vars) put(name, val string, layer int) {
	if cur, ok := v.values[name]; ok && cur.layer > layer {
		return
	}
	v.values[name] = value{val, layer}
}

// SetEnv adds the environment (os.Environ form), the lowest precedence.
func (v *Vars) SetEnv(environ []string) {
	for _, kv := range environ {
		if name, val, ok := strings.Cut(kv, "="); ok && varName.MatchString(name) {
			v.put(name, val, layerEnv)
		}
	}
}

// LoadFile adds KEY=VALUE lines from path. Blank lines and # comments are
// skipped; "export " is allowed; one pair of surrounding quotes is removed.
func (v *Vars) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		name = strings.TrimSpace(name)
		if !ok || !varName.MatchString(name) {
			return &Error{File: path, Line: n, Err: fmt.Errorf("want KEY=VALUE with KEY like [A-Za-z_][A-Za-z0-9_]*")}
		}
		v.put(name, unquote(strings.TrimSpace(val)), layerFile)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// Set adds "K=V" from --var, the highest precedence.
func (v *Vars) Set(kv string) error {
	name, val, ok := strings.Cut(kv, "=")
	if !ok || !varName.MatchString(name) {
		return fmt.Errorf("want K=V with K like [A-Za-z_][A-Za-z0-9_]*")
	}
	v.put(name, val, layerFlag)
	return nil
}

// Lookup returns a variable's value.
func (v *Vars) Lookup(name string) (string, bool) {
	if v == nil {
		return "", false
	}
	val, ok := v.values[name]
	return val.v, ok
}
