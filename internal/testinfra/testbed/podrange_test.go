package testbed

import "testing"

// TestPodRangesDiffer: test beds of one host never share a pod range,
// whatever their kwok ports: the second takes the next free block, and a
// stopped one's block is free again.
func TestPodRangesDiffer(t *testing.T) {
	a := &Cluster{ports: ports{kwok: 7}}
	b := &Cluster{ports: ports{kwok: 7 + podBlocks}} // the same first choice
	for _, c := range []*Cluster{a, b} {
		if err := c.claimPodBlock(); err != nil {
			t.Fatal(err)
		}
	}
	if a.podRange() == b.podRange() {
		t.Fatalf("two test beds share the pod range %s", a.podRange())
	}
	first := a.podRange()
	a.releasePodBlock()
	b.releasePodBlock()
	c := &Cluster{ports: ports{kwok: 7}}
	if err := c.claimPodBlock(); err != nil {
		t.Fatal(err)
	}
	defer c.releasePodBlock()
	if c.podRange() != first {
		t.Errorf("after both stopped, the block went to %s, want %s again", c.podRange(), first)
	}
}
