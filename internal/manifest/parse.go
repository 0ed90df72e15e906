package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// document is one parsed, non-empty document of an input.
type document struct {
	root *yaml.Node
	num  int // 1-based number in the input
}

// documents splits an input into its non-empty documents: JSON values when
// it is JSON, YAML documents otherwise.
func documents(in input) ([]document, error) {
	if looksJSON(in.data) {
		docs, err := jsonDocuments(in)
		if err == nil || strings.HasSuffix(strings.ToLower(in.name), ".json") {
			return docs, err
		}
		// Not JSON after all: a YAML flow mapping, say.
	}
	return yamlDocuments(in)
}

func looksJSON(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
}

func yamlDocuments(in input) ([]document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(in.data))
	var out []document
	for n := 1; ; n++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, yamlError(in.name, n, err)
		}
		if root := docRoot(&doc); root != nil {
			out = append(out, document{root: root, num: n})
		}
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError turns a parser error into an *Error with the parser's line.
func yamlError(file string, doc int, err error) *Error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if hint, ok := quotedHints[msg]; ok {
		msg += ": " + hint
	}
	return &Error{File: file, Doc: doc, Line: line, Err: fmt.Errorf("malformed YAML: %s", msg)}
}

// quotedHints say what the parser's message leaves out ("while scanning a
// quoted scalar"): these come only from a quoted string left open. The line
// is normally where it opens.
var quotedHints = map[string]string{
	"found unexpected end of stream":      "a quoted string is not closed",
	"found unexpected document indicator": "a quoted string is not closed before a --- line",
}

// docRoot returns a document's content, or nil for an empty document (only
// comments and white space). An explicit null ("~", "null") is not empty:
// it is a scalar, refused later.
func docRoot(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" && root.Style == 0 {
		return nil
	}
	return root
}
