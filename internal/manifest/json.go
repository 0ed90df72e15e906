package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// maxDepth bounds nesting, as the YAML parser does.
const maxDepth = 10000

// jsonDocuments reads a stream of JSON values (one value, or several
// concatenated) into YAML nodes, so that JSON and YAML are substituted by
// the same code. Strings become double-quoted scalars: a string that is
// exactly one variable stays a string.
func jsonDocuments(in input) ([]document, error) {
	r := &jsonReader{dec: json.NewDecoder(bytes.NewReader(in.data)), newlines: newlines(in.data)}
	r.dec.UseNumber()
	var out []document
	for n := 1; ; n++ {
		tok, err := r.dec.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var root *yaml.Node
		if err == nil {
			root, err = r.node(tok, 0)
		}
		if err != nil {
			return nil, &Error{File: in.name, Doc: n, Line: r.errLine(err), Err: fmt.Errorf("malformed JSON: %w", err)}
		}
		out = append(out, document{root: root, num: n})
	}
}

// jsonReader builds YAML nodes from JSON tokens, with their lines.
type jsonReader struct {
	dec      *json.Decoder
	newlines []int // offsets of the newlines in the input
}

func newlines(data []byte) []int {
	var out []int
	for i, c := range data {
		if c == '\n' {
			out = append(out, i)
		}
	}
	return out
}

// lineAt returns the 1-based line of a byte offset.
func (r *jsonReader) lineAt(offset int64) int {
	return 1 + sort.SearchInts(r.newlines, int(offset))
}

// line returns the line of the token just read (InputOffset is its end).
func (r *jsonReader) line() int { return r.lineAt(r.dec.InputOffset() - 1) }

func (r *jsonReader) errLine(err error) int {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return r.lineAt(se.Offset - 1)
	}
	return r.line()
}

func (r *jsonReader) node(tok json.Token, depth int) (*yaml.Node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("exceeded max depth of %d", maxDepth)
	}
	line := r.line()
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return r.object(line, depth)
		}
		return r.array(line, depth)
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t, Style: yaml.DoubleQuotedStyle, Line: line}, nil
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: numberTag(t), Value: t.String(), Line: line}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t), Line: line}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: line}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func numberTag(n json.Number) string {
	if _, err := n.Int64(); err == nil {
		return "!!int"
	}
	return "!!float"
}

func (r *jsonReader) object(line, depth int) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
	for r.dec.More() {
		for range 2 { // key, then value
			tok, err := r.dec.Token()
			if err != nil {
				return nil, err
			}
			c, err := r.node(tok, depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
	}
	return n, r.end()
}

func (r *jsonReader) array(line, depth int) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
	for r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return nil, err
		}
		c, err := r.node(tok, depth+1)
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, c)
	}
	return n, r.end()
}

// end reads the closing delimiter of an object or array.
func (r *jsonReader) end() error {
	_, err := r.dec.Token()
	return err
}
