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
	"strings"
	"unicode/utf8"
)

// input is one file's content.
type input struct {
	name string
	data []byte
}

const stdinName = "<stdin>"

// MaxInputBytes is the default size limit of one input (a file or
// standard input).
const MaxInputBytes = 32 << 20

const defaultMaxBytes = MaxInputBytes

// readInputs expands the paths into files and reads each file once.
func readInputs(ctx context.Context, opts Options) ([]input, error) {
	var out []input
	seen := map[string]bool{}
	for _, p := range opts.Paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p == "" {
			return nil, &Error{Err: errors.New("empty path in the input paths")}
		}
		if p == "-" {
			if !seen[stdinName] {
				seen[stdinName] = true
				data, err := readLimited(opts.Stdin, stdinName, opts.MaxFileBytes)
				if err != nil {
					return nil, err
				}
				out = append(out, input{stdinName, data})
			}
			continue
		}
		files, err := expandPath(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if id := fileID(f); !seen[id] {
				seen[id] = true
				data, err := readFile(f, opts.MaxFileBytes)
				if err != nil {
					return nil, err
				}
				out = append(out, input{f, data})
			}
		}
	}
	return out, nil
}

// fileID identifies a file however it was reached: its absolute path with
// symbolic links resolved.
func fileID(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		return resolved
	}
	return abs
}

// expandPath turns a file, a directory or a glob into file paths. A path
// that exists is taken literally, even if it holds glob characters.
func expandPath(ctx context.Context, p string) ([]string, error) {
	if _, err := os.Stat(p); err == nil {
		return statPath(ctx, p)
	}
	switch {
	case strings.Contains(p, "**"):
		return globStar(ctx, p)
	case hasMeta(p):
		return glob(ctx, p)
	}
	return statPath(ctx, p)
}

// statPath returns p itself, or the manifests under it if it is a directory.
func statPath(ctx context.Context, p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, &Error{File: p, Err: pathErr(err)}
	}
	if st.IsDir() {
		return walkDir(ctx, p)
	}
	return []string{p}, nil
}

// glob expands a pattern without **; matching directories are walked.
func glob(ctx context.Context, pattern string) ([]string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, &Error{File: pattern, Err: fmt.Errorf("bad pattern: %w", err)}
	}
	if len(matches) == 0 {
		return nil, &Error{File: pattern, Err: errors.New("no file matches")}
	}
	var out []string
	for _, m := range matches {
		files, err := statPath(ctx, m)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

// walkDir lists *.yaml, *.yml and *.json under dir, in lexical order.
func walkDir(ctx context.Context, dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() && manifestExt(path) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, walkErr(dir, err)
	}
	if len(out) == 0 {
		return nil, &Error{File: dir, Err: errors.New("no *.yaml, *.yml or *.json file in the directory")}
	}
	return out, nil
}

// walkErr keeps context errors as they are and locates the others.
func walkErr(name string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &Error{File: pe.Path, Err: pe.Err}
	}
	return &Error{File: name, Err: err}
}

func manifestExt(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Err: pathErr(err)}
	}
	defer f.Close()
	return readLimited(f, path, limit)
}

// readLimited reads r, refusing more than limit bytes and binary content.
func readLimited(r io.Reader, name string, limit int64) ([]byte, error) {
	if r == nil {
		return nil, &Error{File: name, Err: errors.New("no standard input to read")}
	}
	if limit <= 0 {
		limit = defaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{File: name, Err: fmt.Errorf("read: %w", pathErr(err))}
	}
	if int64(len(data)) > limit {
		return nil, &Error{File: name, Err: fmt.Errorf("larger than %d bytes, the limit", limit)}
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, &Error{File: name, Err: errors.New("binary content (NUL byte or invalid UTF-8): not a YAML or JSON text file")}
	}
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), nil
}

// pathErr drops the operation and path from a *fs.PathError, as the
// *Error around it names the file already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
