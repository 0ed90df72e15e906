package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and checks the config file at path, and resolves the
// relative paths in it against path's directory. An empty file is an empty
// Config. Errors about the content are *Error values (several joined with
// errors.Join), each naming path, the line and the field.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parse(data, path)
	if err != nil {
		return nil, err
	}
	cfg.File = path
	cfg.resolve(filepath.Dir(path))
	return cfg, nil
}

// parse decodes and checks data, naming file in errors.
func parse(data []byte, file string) (*Config, error) {
	root, err := document(data)
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	cfg := &Config{}
	if root == nil {
		return cfg, nil
	}
	d := newDecoder()
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	if len(d.errs) > 0 {
		return nil, d.join(file)
	}
	v := &validator{}
	v.config(cfg)
	if len(v.errs) > 0 {
		d.locate(v.errs)
		return nil, v.join(file)
	}
	return cfg, nil
}

// document parses the one YAML document in data; nil when there is none.
func document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("want one YAML document, found more")
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// locate sets the line of each error from the field's path, or from its
// nearest parent's when the field is not in the file.
func (d *decoder) locate(errs []*Error) {
	for _, e := range errs {
		for p := e.Field; e.Line == 0; p = parent(p) {
			e.Line = d.lines[p]
			if p == "" {
				break
			}
		}
	}
}

// parent returns the path one level up: checks[1].http -> checks[1] -> checks.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// resolve makes the relative paths relative to dir instead of the working
// directory.
func (c *Config) resolve(dir string) {
	for i, f := range c.Files {
		c.Files[i] = resolvePath(dir, f)
	}
	for i, f := range c.VarFiles {
		c.VarFiles[i] = resolvePath(dir, f)
	}
	for _, ch := range c.Checks {
		if ch.Job != nil {
			ch.Job.File = resolvePath(dir, ch.Job.File)
		}
		if ch.Analysis == nil {
			continue
		}
		for _, m := range ch.Analysis.Metrics {
			if m.Job != nil {
				m.Job.File = resolvePath(dir, m.Job.File)
			}
		}
	}
}

// resolvePath joins a relative path (or glob) to dir; absolute paths and
// "-" (standard input) stay as they are.
func resolvePath(dir, p string) string {
	if p == "-" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
