// Package manifest reads Kubernetes resource files (files, globs with **,
// directories, stdin; multi-document YAML, JSON, List kinds) into objects,
// substituting variables safely. It touches no cluster.
//
// Safety model: the text is parsed first, and variables ($VAR, ${VAR}) are
// substituted inside parsed scalars only (mapping keys and values), never
// into raw text. A value therefore cannot add keys, items or documents,
// whatever it holds (newlines, ": ", "- ", "#", "---", quotes, braces, tags).
// A plain scalar that is exactly one variable takes the value's scalar type
// (int, float, bool, null), never a map or a list; anything else stays a
// string. Anchors, aliases, merge keys and custom tags are refused rather
// than interpreted, so there is no alias expansion (billion laughs) and no
// type construction from tags.
package manifest
