package manifest

import (
	"strconv"
	"strings"
)

// fieldPath is where a node sits in its document, built as the walk goes
// down and only formatted when an error needs it.
type fieldPath struct {
	parent *fieldPath
	key    string
	index  int // used when isIdx
	isIdx  bool
}

func (p *fieldPath) child(key string) *fieldPath { return &fieldPath{parent: p, key: key} }

func (p *fieldPath) item(i int) *fieldPath { return &fieldPath{parent: p, index: i, isIdx: true} }

// String formats the path as spec.containers[0].image; a key holding ".",
// "[" or "]", or empty, is written ["like.this"].
func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	var segs []*fieldPath
	for q := p; q != nil; q = q.parent {
		segs = append(segs, q)
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		switch {
		case s.isIdx:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case s.key == "" || strings.ContainsAny(s.key, ".[]"):
			b.WriteString("[" + strconv.Quote(s.key) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		}
	}
	return b.String()
}
