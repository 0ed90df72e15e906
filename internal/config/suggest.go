package config

import (
	"maps"
	"slices"
	"strings"
)

// closest returns the known key nearest to key, for "did you mean": one
// that differs only in case, or else one that key begins (password:
// passwordEnv), or else one within two edits; "" if none.
func closest(key string, known map[string]int) string {
	names := slices.Sorted(maps.Keys(known)) // the same hint every time
	lower := strings.ToLower(key)
	for _, match := range []func(string) bool{
		func(name string) bool { return strings.EqualFold(name, key) },
		func(name string) bool { return len(key) >= 3 && strings.HasPrefix(strings.ToLower(name), lower) },
	} {
		if i := slices.IndexFunc(names, match); i >= 0 {
			return names[i]
		}
	}
	best, bestDist := "", 3
	for _, name := range names {
		if d := distance(lower, strings.ToLower(name)); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
