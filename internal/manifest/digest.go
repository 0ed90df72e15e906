package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Digest identifies a set of objects by content, independent of their
// order: the same files with the same variables give the same digest.
func Digest(objs []Object) string {
	sums := make([]string, 0, len(objs))
	for _, o := range objs {
		b, err := json.Marshal(o.Object) // map keys are sorted
		if err != nil {
			continue
		}
		s := sha256.Sum256(b)
		sums = append(sums, hex.EncodeToString(s[:]))
	}
	slices.Sort(sums)
	h := sha256.New()
	for _, s := range sums {
		h.Write([]byte(s))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// podSpecPaths are where the workload kinds keep their pod spec.
var podSpecPaths = map[string][]string{
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
	"Pod":         {"spec"},
}

// Images lists the container images of the workloads among objs, sorted
// and without repeats.
func Images(objs []Object) []string {
	return images(objs, func(Object) bool { return true })
}

// DeploymentImages lists the container images, init containers included,
// of the Deployments (group apps) among objs, sorted and without repeats:
// what a blue/green color running these objects shows when its
// Deployments are read (strategy.DeploymentImages). Images also counts
// the other workloads (a migration Job, say), which no color runs.
func DeploymentImages(objs []Object) []string {
	return images(objs, func(o Object) bool {
		return o.GetKind() == "Deployment" && o.GroupVersionKind().Group == "apps"
	})
}

func images(objs []Object, keep func(Object) bool) []string {
	var out []string
	for _, o := range objs {
		path, ok := podSpecPaths[o.GetKind()]
		if !ok || !keep(o) {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(o.Object, append(slices.Clone(path), field)...)
			for _, c := range cs {
				if m, ok := c.(map[string]any); ok {
					if img, ok := m["image"].(string); ok && img != "" {
						out = append(out, img)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
