package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"github.com/cutover/cutover/internal/testinfra/testbed/ociimage"
)

// Images the real node has without a registry. The test app answers as the
// article's Tomcat images do, so the article's manifests run unchanged
// (tomcat:8 is pulled IfNotPresent, and present).
var testAppMajors = []string{"7", "8", "9"}

// TestAppImage is the test app's image reference for a Tomcat major.
func TestAppImage(major string) string { return "tomcat:" + major }

// importImages builds the pause and test app binaries from this module,
// writes them as OCI images and imports them into containerd.
func (n *realNode) importImages(ctx context.Context) error {
	pause, err := n.goBuild(ctx, "pause")
	if err != nil {
		return err
	}
	app, err := n.goBuild(ctx, "webapp")
	if err != nil {
		return err
	}
	images := []ociimage.Image{{Names: []string{SandboxImage}, Entrypoint: []string{"/pause"},
		Files: []ociimage.File{{Path: "/pause", Mode: 0o755, Data: pause}}}}
	for _, major := range testAppMajors {
		images = append(images, ociimage.Image{
			Names:      []string{"docker.io/library/" + TestAppImage(major)},
			Entrypoint: []string{"/webapp"},
			Env:        []string{"TOMCAT_MAJOR=" + major},
			Files:      []ociimage.File{{Path: "/webapp", Mode: 0o755, Data: app}},
		})
	}
	archive := n.path("images.tar")
	if err := ociimage.WriteFile(archive, runtime.GOARCH, images...); err != nil {
		return err
	}
	return n.ctr(ctx, "images", "import", archive)
}

// goBuild builds internal/testinfra/testbed/images/NAME as a static binary.
func (n *realNode) goBuild(ctx context.Context, name string) ([]byte, error) {
	out := n.path(name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out,
		"github.com/cutover/cutover/internal/testinfra/testbed/images/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s: %w\n%s", name, err, b)
	}
	return os.ReadFile(out)
}

// ctr runs containerd's client in the k8s.io namespace, where the CRI
// plugin keeps its images and containers.
func (n *realNode) ctr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ctr %v: %w\n%s", args, err, out.String())
	}
	return nil
}
