package engine

import (
	"testing"

	"github.com/cutover/cutover/internal/release"
)

// TestNeedsRedeploy: rollback compares the images of the previous color's
// Deployments with those of the previous release's Deployments, which its
// record keeps apart from the images of its other workloads; a record
// written before it kept them compares with all of its images, as before.
func TestNeedsRedeploy(t *testing.T) {
	withJob := &release.Record{Images: []string{"migrate:7", "tomcat:7"}, DeploymentImages: []string{"tomcat:7"}}
	oldWithJob := &release.Record{Images: []string{"migrate:7", "tomcat:7"}}
	oldPlain := &release.Record{Images: []string{"tomcat:7"}}
	cases := []struct {
		name    string
		prev    *release.Record
		running []string
		found   bool
		want    bool
	}{
		{"a Job's image is not the color's", withJob, []string{"tomcat:7"}, true, false},
		{"the color runs another release", withJob, []string{"tomcat:8"}, true, true},
		{"the color runs the Job's image too", withJob, []string{"migrate:7", "tomcat:7"}, true, true},
		{"the color's Deployments are gone", withJob, nil, false, true},
		{"old record: only Deployments", oldPlain, []string{"tomcat:7"}, true, false},
		{"old record: another release", oldPlain, []string{"tomcat:8"}, true, true},
		{"old record with a Job: redeployed, as before", oldWithJob, []string{"tomcat:7"}, true, true},
		{"old record without images: the instant path decides", &release.Record{}, []string{"tomcat:8"}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsRedeploy(tc.prev, tc.running, tc.found); got != tc.want {
				t.Errorf("needsRedeploy(images %v, deployment images %v; running %v, found %v) = %v, want %v",
					tc.prev.Images, tc.prev.DeploymentImages, tc.running, tc.found, got, tc.want)
			}
		})
	}
}
