package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Options for Load.
type Options struct {
	// Paths are files, globs (** allowed), directories (read recursively
	// for *.yaml, *.yml and *.json) or "-" for Stdin.
	Paths        []string
	Stdin        io.Reader // read when a path is "-"
	Vars         *Vars     // nil: no substitution at all
	Strict       bool      // undefined variables are an error (--strict-vars)
	MaxFileBytes int64     // per input; 0 means 32 MiB
}

// Object is one parsed object and where it came from.
type Object struct {
	*unstructured.Unstructured
	Source Source
}

// Set is what Load read.
type Set struct {
	Objects   []Object // in input order, List kinds flattened
	Undefined []string // sorted names of variables referenced but undefined, left as written
}

// Load reads, parses and substitutes the inputs. Every error about the
// input is an *Error naming the file, document, line and field it can.
func Load(ctx context.Context, opts Options) (*Set, error) {
	if len(opts.Paths) == 0 {
		return nil, &Error{Err: errors.New("no input paths")}
	}
	inputs, err := readInputs(ctx, opts)
	if err != nil {
		return nil, err
	}
	w := &walker{vars: opts.Vars, strict: opts.Strict, undefined: map[string]bool{}}
	set := &Set{}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		objs, err := w.input(in)
		if err != nil {
			return nil, err
		}
		set.Objects = append(set.Objects, objs...)
	}
	if len(set.Objects) == 0 {
		return nil, &Error{Err: fmt.Errorf("no objects found in %s", inputNames(opts.Paths))}
	}
	if err := checkDuplicates(set.Objects); err != nil {
		return nil, err
	}
	set.Undefined = slices.Sorted(maps.Keys(w.undefined))
	return set, nil
}

// inputNames lists the paths for a message, "-" as standard input.
func inputNames(paths []string) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = p
		if p == "-" {
			names[i] = "standard input"
		}
	}
	return strings.Join(names, ", ")
}

// input parses one input into objects.
func (w *walker) input(in input) ([]Object, error) {
	docs, err := documents(in)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, d := range docs {
		w.src = Source{File: in.name, Doc: d.num, Line: d.root.Line}
		objs, err := w.objects(d.root)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// checkDuplicates refuses the same object twice: same API group, kind,
// namespace and name. Objects named by generateName only are never equal.
func checkDuplicates(objs []Object) error {
	seen := map[string]Source{}
	for _, o := range objs {
		if o.GetName() == "" {
			continue
		}
		gvk := o.GroupVersionKind()
		k := strings.Join([]string{gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName()}, "\x00")
		if first, dup := seen[k]; dup {
			return &Error{File: o.Source.File, Doc: o.Source.Doc, Line: o.Source.Line, Field: "metadata.name",
				Err: fmt.Errorf("%s %s is defined twice: here and in %s", gvk.Kind, ref(o), first)}
		}
		seen[k] = o.Source
	}
	return nil
}

func ref(o Object) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%q in namespace %q", o.GetName(), ns)
	}
	return fmt.Sprintf("%q", o.GetName())
}
