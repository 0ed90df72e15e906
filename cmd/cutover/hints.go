package main

import (
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/event"
	"github.com/cutover/cutover/internal/hint"
)

// hintFlags words each setting the engine hints at (package hint) as what
// sets it on the command line.
var hintFlags = map[hint.Setting]string{
	hint.NoRollback:     "--no-rollback",
	hint.Strict:         "--strict",
	hint.ScaleDownDelay: "--scale-down-delay",
	hint.SelectorKey:    "--selector-key",
	hint.Colors:         "--colors",
	hint.ForceConflicts: "--force-conflicts",
	hint.TakeOwnership:  "--take-ownership",
	hint.SecretVars:     "--secret-var",
	hint.StrictVars:     "--strict-vars",
	hint.EndpointGuard:  "--endpoint-guard=false",
	hint.FixAPI:         "cutover render --fix-api -f FILE",
	hint.Resync:         "cutover endpoints --resync",
}

// flagOf words s as its flag; a setting the table lacks by its key in the
// config file.
func flagOf(s hint.Setting) string {
	if f, ok := hintFlags[s]; ok {
		return f
	}
	return "config key " + string(s)
}

// errorText is err as the "error:" line prints it: each setting the error
// hints at is named by its flag, in parentheses, right after the words
// the hint belongs to, or at the end where those words are not in the
// text as printed (masked secrets). A flag the text names already is not
// named again.
func errorText(err error) string {
	text := err.Error()
	var rest []string
	for _, h := range hint.Find(err) {
		flag := flagOf(h.Setting)
		switch after, found := endOf(text, h.Error()); {
		case names(text, flag) || slices.Contains(rest, flag):
		case found:
			text = text[:after] + " (" + flag + ")" + text[after:]
		default:
			rest = append(rest, flag)
		}
	}
	return withFlags(text, rest)
}

// endOf returns where the first occurrence of words in text ends.
func endOf(text, words string) (int, bool) {
	i := strings.Index(text, words)
	if words == "" || i < 0 {
		return 0, false
	}
	return i + len(words), true
}

// withFlags appends to text, in parentheses, the flags it does not name
// yet.
func withFlags(text string, flags []string) string {
	var add []string
	for _, f := range flags {
		if !names(text, f) && !slices.Contains(add, f) {
			add = append(add, f)
		}
	}
	if len(add) == 0 {
		return text
	}
	if text == "" {
		return "(" + strings.Join(add, ", ") + ")"
	}
	return text + " (" + strings.Join(add, ", ") + ")"
}

// names reports whether text names flag as a whole: --strict is not
// named by --strict-vars.
func names(text, flag string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], flag)
		if j < 0 {
			return false
		}
		end := i + j + len(flag)
		if end == len(text) || !flagChar(text[end]) {
			return true
		}
		i = end
	}
}

func flagChar(c byte) bool {
	return c == '-' || c == '=' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// flagHints returns a sink that names, by their flags, the settings an
// event hints at before passing it on to next: at the end of its Error, or
// of its Message when it has no Error (see event.Event.Settings). The
// event keeps its Settings, for the JSON output.
func flagHints(next event.Sink) event.Sink {
	return event.Func(func(e event.Event) {
		if len(e.Settings) > 0 {
			flags := make([]string, 0, len(e.Settings))
			for _, s := range e.Settings {
				flags = append(flags, flagOf(hint.Setting(s)))
			}
			if e.Error != "" {
				e.Error = withFlags(e.Error, flags)
			} else {
				e.Message = withFlags(e.Message, flags)
			}
		}
		next.Emit(e)
	})
}
