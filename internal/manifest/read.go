package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"
)

// input is one file's content.
type input struct {
	name string
	data []byte
}

const stdinName = "<stdin>"

// readInputs expands paths into files and reads them.
func readInputs(ctx context.Context, opts Options) ([]input, error) {
	var out []input
	seen := map[string]bool{}
	for _, p := range opts.Paths {
		if p == "-" {
			if seen[stdinName] {
				continue
			}
			seen[stdinName] = true
			data, err := readLimited(opts.Stdin, stdinName, opts.MaxFileBytes)
			if err != nil {
				return nil, err
			}
			out = append(out, input{stdinName, data})
			continue
		}
		files, err := expandPath(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			abs, _ := filepath.Abs(f)
			if seen[abs] {
				continue
			}
			seen[abs] = true
			data, err := readFile(f, opts.MaxFileBytes)
			if err != nil {
				return nil, err
			}
			out = append(out, input{f, data})
		}
	}
	return out, nil
}

// expandPath turns a file, directory or glob into file paths.
func expandPath(p string) ([]string, error) {
	if strings.Contains(p, "**") {
		return globStar(p)
	}
	if strings.ContainsAny(p, "*?[") {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, &Error{File: p, Err: fmt.Errorf("bad glob: %w", err)}
		}
		if len(matches) == 0 {
			return nil, &Error{File: p, Err: errors.New("no file matches")}
		}
		return expandAll(matches)
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, &Error{File: p, Err: pathErr(err)}
	}
	if st.IsDir() {
		return walkDir(p)
	}
	return []string{p}, nil
}

func expandAll(paths []string) ([]string, error) {
	var out []string
	for _, m := range paths {
		files, err := expandPath(m)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

// walkDir lists *.yaml, *.yml and *.json under dir, in lexical order.
func walkDir(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && manifestExt(path) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, &Error{File: dir, Err: pathErr(err)}
	}
	if len(out) == 0 {
		return nil, &Error{File: dir, Err: errors.New("no *.yaml, *.yml or *.json file in the directory")}
	}
	return out, nil
}

func manifestExt(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// globStar matches a pattern with ** (any number of directories).
func globStar(pattern string) ([]string, error) {
	base := pattern[:strings.Index(pattern, "**")]
	root := filepath.Dir(base + "x")
	re, err := globRegexp(pattern)
	if err != nil {
		return nil, &Error{File: pattern, Err: err}
	}
	var out []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && re.MatchString(filepath.ToSlash(path)) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, &Error{File: pattern, Err: pathErr(err)}
	}
	if len(out) == 0 {
		return nil, &Error{File: pattern, Err: errors.New("no file matches")}
	}
	return out, nil
}

// globRegexp compiles a glob where ** spans directories and * does not.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	p := filepath.ToSlash(filepath.Clean(pattern))
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

func readFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Err: pathErr(err)}
	}
	defer f.Close()
	return readLimited(f, path, max)
}

// readLimited reads r, refusing more than max bytes and binary content.
func readLimited(r io.Reader, name string, max int64) ([]byte, error) {
	if r == nil {
		return nil, &Error{File: name, Err: errors.New("no standard input")}
	}
	if max <= 0 {
		max = 32 << 20
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, &Error{File: name, Err: err}
	}
	if int64(len(data)) > max {
		return nil, &Error{File: name, Err: fmt.Errorf("larger than %d bytes", max)}
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, &Error{File: name, Err: errors.New("binary content: not a YAML or JSON text file")}
	}
	return data, nil
}

func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
