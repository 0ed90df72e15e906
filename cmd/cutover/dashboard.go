package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/dashboard"
)

// shutdownGrace bounds how long the dashboard waits for requests in
// flight when it stops.
const shutdownGrace = 5 * time.Second

type dashboardOptions struct {
	kube      kubeFlags
	addr      string
	rootPath  string
	noBrowser bool
	by        string
}

func newDashboardCmd() *cobra.Command {
	o := &dashboardOptions{}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a web dashboard of the namespace's releases on this machine",
		Long: `Serve a web dashboard of the releases in the namespace, with your kubeconfig's
identity, on a loopback address of this machine (local mode: other machines
cannot reach it). -n may be repeated (or list namespaces separated by commas)
to show several.

The apps view lists every app with release records: strategy, last outcome
and when, images, the target color or canary weight, and a marker when a
release waits for approval or is paused. An app's page shows its latest
release's stage timeline, who approved it, and its history. A release that
waits at Confirm (deploy --approval manual) gets Approve and Reject buttons;
a canary in progress Promote (at a pause) and Abort; a staged release Abort.
They act as cutover approve, reject, promote and abort do, recorded as --by
(default $CUTOVER_USER, $BUILD_USER_ID, $GITHUB_ACTOR, $GITLAB_USER_LOGIN or
user@host). Pages update live as the records change.

It prints the URL, opens it in a browser (xdg-open) unless --no-browser, and
serves until interrupted (Ctrl-C, SIGTERM).

Exit code 2 for a non-loopback --addr; 3 when the cluster cannot be reached or
the records cannot be listed.`,
		Example: "  cutover dashboard -n prod\n  cutover dashboard -n prod -n staging --addr 127.0.0.1:8080 --no-browser",
		Args:    usageArgs(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.kube.registerMany(cmd.Flags())
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:0", "address to serve on: a loopback host (127.0.0.1, ::1, localhost); port 0 picks a free one")
	cmd.Flags().BoolVar(&o.noBrowser, "no-browser", false, "do not open the URL in a browser")
	cmd.Flags().StringVar(&o.rootPath, "root-path", "", "serve under this path (such as /cutover), behind a proxy that passes it on")
	cmd.Flags().StringVar(&o.by, "by", "", "who decides, recorded with approvals and rejections (default: from the environment, see above)")
	return cmd
}

func (o *dashboardOptions) run(cmd *cobra.Command) error {
	root, err := dashboard.CleanRootPath(o.rootPath)
	if err := cmp.Or(checkLoopback(o.addr), o.kube.checkNamespaces(), rootPathError(err)); err != nil {
		return usageError{err}
	}
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	by := o.by
	if by == "" {
		by = decider()
	}
	ctx := cmd.Context()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	s, err := dashboard.New(ctx, dashboard.Options{Clients: clients, Namespaces: o.kube.namespaces, By: by, Log: log, Loopback: true, RootPath: root})
	if err != nil {
		return badInput{err}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.addr)
	if err != nil {
		return badInput{fmt.Errorf("--addr: %w", err)}
	}
	url := "http://" + ln.Addr().String() + root + "/"
	fmt.Fprintf(cmd.OutOrStdout(), "dashboard: %s (namespaces %s)\n", url, strings.Join(s.Namespaces(), ", "))
	if !o.noBrowser {
		openBrowser(cmd.ErrOrStderr(), url)
	}
	return serve(ctx, ln, s.Handler(), nil)
}

// rootPathError names the flag of a bad --root-path.
func rootPathError(err error) error {
	if err != nil {
		return fmt.Errorf("--root-path: %w", err)
	}
	return nil
}

// checkLoopback refuses an address other machines could reach.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--addr %q: the local dashboard serves a loopback address only (127.0.0.1, ::1 or localhost), since it acts with your kubeconfig's identity", addr)
	}
	return nil
}

// serve serves h on ln until ctx ends, then runs beforeShutdown (if set)
// and shuts down gracefully.
func serve(ctx context.Context, ln net.Listener, h http.Handler, beforeShutdown func()) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve dashboard: %w", err)
	case <-ctx.Done():
	}
	if beforeShutdown != nil {
		beforeShutdown()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down dashboard: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve dashboard: %w", err)
	}
	return nil
}

// openBrowser opens url with xdg-open where it exists; it never fails the
// command.
func openBrowser(stderr io.Writer, url string) {
	path, err := exec.LookPath("xdg-open")
	if err != nil {
		return
	}
	c := exec.Command(path, url)
	if err := c.Start(); err != nil {
		fmt.Fprintf(stderr, "note: could not open a browser: %v\n", err)
		return
	}
	go func() { _ = c.Wait() }()
}
