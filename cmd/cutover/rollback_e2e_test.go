package main

import "testing"

func TestManualRollbackThenDeployAgain(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t)
	file := writeFile(t, "web.yaml", webApp)
	for _, v := range []string{"7", "8"} {
		if r := deployWeb(t, ns, file, v, "ready", 60); r.code != exitOK {
			t.Fatalf("deploy %s exited %d", v, r.code)
		}
	}
	if r := cutover(t, ns, "", "rollback", "deployment/web", "-o", "json"); r.code != exitOK {
		t.Fatalf("rollback exited %d", r.code)
	}
	// replicas (3, owned by cutover) must survive: dropping an owned field
	// from an apply would reset it to 1.
	assertRunning(t, ns, "tomcat:7")

	if r := cutover(t, ns, "", "rollback", "deploy/web", "--to-revision", "2", "-o", "json"); r.code != exitOK {
		t.Fatalf("rollback to revision 2 exited %d", r.code)
	}
	assertRunning(t, ns, "tomcat:8")

	// The next release owns the same fields: no conflict, no --force-conflicts.
	if r := deployWeb(t, ns, file, "9", "ready", 60); r.code != exitOK {
		t.Fatalf("deploy after rollback exited %d", r.code)
	}
	assertRunning(t, ns, "tomcat:9")

	if r := cutover(t, ns, "", "rollback", "deployment/web", "--to-revision", "99"); r.code != exitBadInput {
		t.Errorf("rollback to a missing revision exited %d, want %d", r.code, exitBadInput)
	}
}
