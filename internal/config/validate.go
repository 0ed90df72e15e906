package config

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// varName is a variable's or environment variable's name, as manifest
// accepts them.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validator checks the values of a decoded Config; lines are filled in by
// the decoder afterwards.
type validator struct {
	problems
}

func (v *validator) fail(path string, err error) { v.add(0, path, err) }

func (v *validator) failf(path, format string, args ...any) { v.addf(0, path, format, args...) }

func (v *validator) config(c *Config) {
	v.dnsLabel("app", c.App)
	v.dnsLabel("namespace", c.Namespace)
	v.oneOf("strategy", c.Strategy, strategies)
	v.paths("files", c.Files)
	v.varMap("vars", c.Vars)
	v.paths("varFiles", c.VarFiles)
	v.varNames("secretVars", c.SecretVars)
	v.positive("timeout", c.Timeout)
	v.positive("rollbackTimeout", c.RollbackTimeout)
	v.blueGreen("blueGreen", &c.BlueGreen)
	v.canary("canary", &c.Canary, c.Checks)
	for i := range c.Checks {
		v.check(index("checks", i), &c.Checks[i], sampleColor(c.BlueGreen.Colors))
	}
	v.approval("approval", &c.Approval)
}

// sampleColor is the color to try {color} with: the first one configured,
// or the default "blue".
func sampleColor(colors []string) string {
	if len(colors) > 0 && colors[0] != "" {
		return colors[0]
	}
	return "blue"
}

func (v *validator) blueGreen(path string, b *BlueGreen) {
	if b.Service != "" {
		v.k8sName(field(path, "service"), b.Service, validation.IsDNS1035Label)
	}
	if b.SelectorKey != "" {
		v.k8sName(field(path, "selectorKey"), b.SelectorKey, validation.IsQualifiedName)
	}
	if b.RoleVar != "" {
		v.varName(field(path, "roleVar"), b.RoleVar)
	}
	v.colors(field(path, "colors"), b.Colors)
	v.oneOf(field(path, "idlePolicy"), b.IdlePolicy, idlePolicies)
	v.positive(field(path, "scaleDownDelay"), b.ScaleDownDelay)
}

// colors must be two different DNS labels: they become label values and
// parts of object names.
func (v *validator) colors(path string, colors []string) {
	if colors == nil {
		return
	}
	if len(colors) != 2 || colors[0] == colors[1] {
		v.failf(path, "want two different colors, such as [blue, green], got %q", colors)
		return
	}
	for i, c := range colors {
		v.dnsLabel(index(path, i), c)
	}
}

// dnsLabel checks an optional name that must be a DNS-1123 label.
func (v *validator) dnsLabel(path, s string) {
	if s != "" {
		v.k8sName(path, s, validation.IsDNS1123Label)
	}
}

func (v *validator) k8sName(path, s string, check func(string) []string) {
	if errs := check(s); len(errs) > 0 {
		v.failf(path, "invalid name %q: %s", s, strings.Join(errs, "; "))
	}
}

// oneOf checks an optional enumerated value.
func (v *validator) oneOf(path, s string, allowed []string) {
	if s != "" && !slices.Contains(allowed, s) {
		v.failf(path, "want one of %s, got %q", strings.Join(allowed, ", "), s)
	}
}

func (v *validator) positive(path string, d *time.Duration) {
	if d != nil && *d <= 0 {
		v.failf(path, "want a duration above zero, got %s", d)
	}
}

// atLeast checks an optional number.
func (v *validator) atLeast(path string, n *int, low int) {
	if n != nil && *n < low {
		v.failf(path, "want at least %d, got %d", low, *n)
	}
}

func (v *validator) required(path, s string) bool {
	if s == "" {
		v.fail(path, errors.New("required"))
		return false
	}
	return true
}

func (v *validator) paths(path string, list []string) {
	for i, p := range list {
		v.required(index(path, i), p)
	}
}

func (v *validator) varName(path, name string) {
	if !varName.MatchString(name) {
		v.failf(path, "invalid variable name %q: want letters, digits and _, not starting with a digit", name)
	}
}

func (v *validator) varNames(path string, names []string) {
	for i, name := range names {
		v.varName(index(path, i), name)
	}
}

// varMap checks that a map's keys are variable names.
func (v *validator) varMap(path string, m map[string]string) {
	for _, name := range sortedKeys(m) {
		v.varName(field(path, name), name)
	}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
