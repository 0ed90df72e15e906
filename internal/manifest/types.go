package manifest

import (
	"errors"
	"fmt"
	"math"

	yaml "go.yaml.in/yaml/v3"
)

// scalarValue converts scalar text by a resolved tag into a JSON-compatible
// value. Timestamps and binary stay as written: Kubernetes wants strings.
func scalarValue(tag, s string) (any, error) {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}
	switch tag {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("%q is not a valid %s value", s, tag)
		}
		return b, nil
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("%q is not a valid %s value", s, tag)
		}
		return jsonNumber(v)
	}
	return s, nil
}

// jsonNumber normalizes a decoded YAML number to int64 or float64. Integers
// beyond int64 become float64, as in JSON; infinities and NaN are refused
// because JSON cannot carry them.
func jsonNumber(v any) (any, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), nil
		}
		return float64(n), nil
	case float64:
		if math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, errors.New("infinity and NaN cannot be represented in JSON")
		}
		return n, nil
	}
	return nil, fmt.Errorf("unexpected number type %T", v)
}

// inferred types the value of a plain, untagged scalar that was exactly one
// variable: it takes the type YAML would give the value written in its
// place ("3" int, "1.5" float, "true" bool, "null" and "~" null, and so on
// by YAML's rules, so "0755" is the octal int 493, as a literal would be),
// but only a scalar type: whatever the value holds (": ", "[1]", "{a: b}",
// newlines), it cannot become a map or a list, and anything that is not an
// int, a finite float, a bool or a null stays a string.
//
// The empty string stays an empty string, not null (unlike a literal empty
// scalar): an empty, often unset, CI variable must not silently remove a
// field, as null does in an apply.
func inferred(s string) any {
	if s == "" {
		return ""
	}
	tag := (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag()
	switch tag {
	case "!!int", "!!float", "!!bool", "!!null":
		if v, err := scalarValue(tag, s); err == nil {
			return v
		}
	}
	return s
}
