package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"

	"github.com/cutover/cutover/internal/manifest"
	"github.com/cutover/cutover/internal/release"
)

// diffView compares the objects two releases' records keep.
type diffView struct {
	From, To *release.Record
	// Lines are the unified diff of the two releases' objects as YAML,
	// sorted by kind, namespace and name; empty when they are the same.
	Lines []diffLine
	// Secrets names the Secrets the records do not keep, so cannot show.
	Secrets []string
	// Missing says why a release's objects cannot be compared.
	Missing string
}

type diffLine struct {
	Kind string // "add", "del", "hunk" or "" (context)
	Text string
}

// diffPage shows /apps/{ns}/{app}/diff?from=N&to=M: what changed between
// two releases' objects. Secrets are never shown: the records do not keep
// them, and any the objects hold are left out.
func (s *Server) diffPage(w http.ResponseWriter, r *http.Request) {
	sc, ok := s.scope(w, r)
	if !ok {
		return
	}
	app := r.PathValue("app")
	list := sc.recs.app(app)
	from, to := revisionOf(list, r.URL.Query().Get("from")), revisionOf(list, r.URL.Query().Get("to"))
	if from == nil || to == nil {
		s.fail(w, r, http.StatusNotFound, sc.ns, app, "Name two revisions of "+app+" that have records: ?from=N&to=M.")
		return
	}
	v := &diffView{From: from, To: to, Secrets: mergeSorted(from.SkippedSecrets, to.SkippedSecrets)}
	store := release.NewStore(personOf(r.Context()).clients.Typed, sc.ns)
	a, errA := objectsText(r.Context(), store, from)
	b, errB := objectsText(r.Context(), store, to)
	if err := cmp.Or(errA, errB); err != nil {
		v.Missing = err.Error()
	} else {
		v.Lines = unified(a, b, fmt.Sprintf("revision %d", from.Revision), fmt.Sprintf("revision %d", to.Revision))
	}
	s.render(w, r, http.StatusOK, "diff", page{Title: app + ": revisions " + strconv.Itoa(from.Revision) + " and " + strconv.Itoa(to.Revision), Namespace: sc.ns, App: app, Diff: v})
}

func revisionOf(list []*release.Record, s string) *release.Record {
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	for _, r := range list {
		if r.Revision == n {
			return r
		}
	}
	return nil
}

// objectsText is a release's kept objects as YAML, one document per
// object, sorted; Secrets left out.
func objectsText(ctx context.Context, store *release.Store, r *release.Record) (string, error) {
	if !r.HasObjects() {
		return "", fmt.Errorf("revision %d keeps no objects%s", r.Revision, because(r.ObjectsOmitted))
	}
	objs, err := store.Objects(ctx, r)
	if err != nil {
		return "", fmt.Errorf("revision %d: %w", r.Revision, err)
	}
	objs = slices.DeleteFunc(objs, func(o manifest.Object) bool { return o.GetKind() == "Secret" })
	slices.SortFunc(objs, func(a, b manifest.Object) int {
		return cmp.Or(cmp.Compare(a.GetKind(), b.GetKind()), cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	var sb strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return "", fmt.Errorf("revision %d: %s: %w", r.Revision, o.GetName(), err)
		}
		sb.WriteString("---\n")
		sb.Write(y)
	}
	return sb.String(), nil
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

// unified is the unified diff of a and b, three lines of context, by line.
func unified(a, b, fromName, toName string) []diffLine {
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{ // writes to a string: cannot fail
		A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: fromName, ToFile: toName, Context: 3})
	var out []diffLine
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if l == "" {
			continue
		}
		kind := ""
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			kind = "file"
		case strings.HasPrefix(l, "@@"):
			kind = "hunk"
		case strings.HasPrefix(l, "+"):
			kind = "add"
		case strings.HasPrefix(l, "-"):
			kind = "del"
		}
		out = append(out, diffLine{Kind: kind, Text: l})
	}
	return out
}

func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
