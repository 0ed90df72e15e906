package manifest

import (
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// YAML writes the objects as one YAML stream, for `cutover render`.
func (s *Set) YAML(w io.Writer) error {
	for i, o := range s.Objects {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("render %s: %w", o.Source, err)
		}
		sep := "---\n"
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s# Source: %s\n%s", sep, o.Source, b); err != nil {
			return err
		}
	}
	return nil
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
