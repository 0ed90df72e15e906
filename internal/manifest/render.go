package manifest

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// YAML writes the objects as one YAML stream ("---" between objects), each
// preceded by a "# Source:" comment, for `cutover render`. The output
// parses back to the same objects, with this package and with
// sigs.k8s.io/yaml (kubectl's reader, YAML 1.1): strings that either could
// read as another type are quoted, multi-line strings are block scalars.
func (s *Set) YAML(w io.Writer) error {
	for i, o := range s.Objects {
		b, err := marshal(o.Object)
		if err != nil {
			return fmt.Errorf("render %s: %w", o.Source, err)
		}
		sep := "---\n"
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s# Source: %s\n%s", sep, comment(o.Source.String()), b); err != nil {
			return fmt.Errorf("render: %w", err)
		}
	}
	return nil
}

// marshal writes one object with two-space indentation.
func marshal(obj map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// comment keeps a file name from breaking out of its comment line.
func comment(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// RedactSecrets replaces the values of every Secret's data and stringData
// with "***", so that rendering shows no secret.
func (s *Set) RedactSecrets() {
	for _, o := range s.Objects {
		if o.GetKind() != "Secret" || o.GroupVersionKind().Group != "" {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			if m, ok := o.Object[field].(map[string]any); ok {
				for k := range m {
					m[k] = "***"
				}
			}
		}
	}
}
