package main

import (
	"testing"

	"github.com/cutover/cutover/internal/config"
)

// The example config files must load: users copy them.
func TestExampleConfigsLoad(t *testing.T) {
	for _, path := range []string{"../../examples/jenkins/cutover.yaml"} {
		if _, err := config.Load(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
