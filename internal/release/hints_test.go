package release

import (
	"slices"
	"testing"

	"github.com/cutover/cutover/internal/hint"
)

// TestSecretValuesHint: the reason a record keeps no objects names the
// secret variables in plain words and hints at the setting that lists
// them.
func TestSecretValuesHint(t *testing.T) {
	if got, want := errSecretValues.Error(), "they hold values of secret variables, which a record must not keep"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	if got := hint.Settings(errSecretValues); !slices.Equal(got, []hint.Setting{hint.SecretVars}) {
		t.Errorf("hints %q, want %s", got, hint.SecretVars)
	}
}
