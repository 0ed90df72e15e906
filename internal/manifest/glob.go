package manifest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// hasMeta reports whether p holds glob metacharacters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// globStar expands a pattern where a "**" path segment matches any number
// of directories (zero included) and the other segments follow path.Match.
// Only files match, whatever their extension, in lexical order.
func globStar(ctx context.Context, pattern string) ([]string, error) {
	segs := strings.Split(filepath.ToSlash(filepath.Clean(pattern)), "/")
	for _, s := range segs {
		if _, err := path.Match(s, ""); err != nil {
			return nil, &Error{File: pattern, Err: fmt.Errorf("bad pattern: %w", err)}
		}
	}
	root := globRoot(segs)
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{File: pattern, Err: errors.New("no file matches")}
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() && matchSegments(segs, strings.Split(filepath.ToSlash(p), "/")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, walkErr(pattern, err)
	}
	if len(out) == 0 {
		return nil, &Error{File: pattern, Err: errors.New("no file matches")}
	}
	return out, nil
}

// globRoot is the directory made of the segments before the first one with
// a metacharacter: where the walk starts.
func globRoot(segs []string) string {
	n := 0
	for n < len(segs) && !hasMeta(segs[n]) {
		n++
	}
	root := strings.Join(segs[:n], "/")
	switch {
	case root == "" && n > 0: // the pattern is absolute: "/**/..."
		return "/"
	case root == "":
		return "."
	}
	return filepath.FromSlash(root)
}

// matchSegments matches path segments against pattern segments.
func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
