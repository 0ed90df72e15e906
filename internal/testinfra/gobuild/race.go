//go:build race

package gobuild

// Race is true when this binary was built with the race detector.
const Race = true
