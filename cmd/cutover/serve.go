package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/dashboard"
)

type serveOptions struct {
	kube          kubeFlags
	addr          string
	tokenHeader   string
	rootPath      string
	certFile      string
	keyFile       string
	sessionTTL    time.Duration
	shutdownDelay time.Duration
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web dashboard for many people, each acting as themselves",
		Long: `Serve the web dashboard of the namespace's releases for many people (serve
mode), in the cluster (deploy/dashboard) or outside it. -n may be repeated
(or list namespaces separated by commas): each person sees the namespaces
they may read.

Every request carries its person's Kubernetes bearer token: from the header
an authenticating proxy in front sets (--token-header, such as oauth2-proxy's
X-Forwarded-Access-Token), from "Authorization: Bearer", or from the sign-in
form, which keeps it on the server for a session named by an HttpOnly,
Secure, SameSite=Strict cookie. The API server reviews the token
(TokenReview); what the person may see and do is asked of it too
(SubjectAccessReview, with the verbs of the matching CLI command: status
for the pages, approve, reject, promote, abort), and the dashboard reads the
records and acts as the person (impersonation), so RBAC decides, and the
API server's audit log names the person. Buttons the person may not use are
disabled; a request for one anyway gets 403 and changes nothing.

The dashboard's own identity needs only: create tokenreviews and
subjectaccessreviews (ClusterRole system:auth-delegator), and impersonate
users, groups, serviceaccounts and uids. deploy/dashboard holds that RBAC,
the Deployment and the Service, and Roles to give people: read-only and
approver.

/healthz answers while the process runs; /readyz until it is asked to stop
(SIGTERM), after which it waits --shutdown-delay for its endpoints to be
removed before it closes connections. /metrics is in the Prometheus format
(release metrics of the namespaces whose records the dashboard's own
identity may read: deploy/dashboard/metrics.yaml).

Serve TLS with --tls-cert-file and --tls-private-key-file, or behind a proxy
that does: the session cookie is Secure, so browsers keep it over https only
(and on localhost).

Exit code 2 for bad flags; 3 when the cluster cannot be reached.`,
		Example: "  cutover serve -n prod --tls-cert-file tls.crt --tls-private-key-file tls.key\n" +
			"  cutover serve -n prod --addr :8080 --token-header X-Forwarded-Access-Token   # behind oauth2-proxy",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.kube.registerMany(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&o.addr, "addr", ":8080", "address to serve on")
	fs.StringVar(&o.tokenHeader, "token-header", "", "a header an authenticating proxy sets to the person's bearer token (such as X-Forwarded-Access-Token); Authorization: Bearer and the sign-in form work too")
	fs.StringVar(&o.rootPath, "root-path", "", "serve under this path (such as /cutover), behind a proxy or ingress that passes it on; --dashboard-url of deploy then ends with it")
	fs.StringVar(&o.certFile, "tls-cert-file", "", "serve TLS with this certificate (PEM), with --tls-private-key-file")
	fs.StringVar(&o.keyFile, "tls-private-key-file", "", "the private key (PEM) of --tls-cert-file")
	fs.DurationVar(&o.sessionTTL, "session-ttl", 8*time.Hour, "how long a sign-in through the form lasts (a token the API server stops accepting ends it sooner)")
	fs.DurationVar(&o.shutdownDelay, "shutdown-delay", 5*time.Second, "after SIGTERM, how long /readyz fails before connections close, for the Service's endpoints and every node's proxy to drop this pod first")
	return cmd
}

// check refuses bad flags, and returns the cleaned --root-path.
func (o *serveOptions) check() (string, error) {
	if (o.certFile == "") != (o.keyFile == "") {
		return "", errors.New("--tls-cert-file and --tls-private-key-file: give both, or neither")
	}
	if o.sessionTTL <= 0 || o.shutdownDelay < 0 {
		return "", errors.New("--session-ttl must be above zero and --shutdown-delay zero or more")
	}
	root, err := dashboard.CleanRootPath(o.rootPath)
	return root, cmp.Or(o.kube.checkNamespaces(), rootPathError(err))
}

// loadCert reads the TLS files; nil without them.
func (o *serveOptions) loadCert() (*tls.Certificate, error) {
	if o.certFile == "" {
		return nil, nil
	}
	c, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file: %w", err)
	}
	return &c, nil
}

// listen listens on --addr, with TLS when cert is set; it returns the
// URL scheme.
func (o *serveOptions) listen(ctx context.Context, cert *tls.Certificate, log *slog.Logger) (net.Listener, string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.addr)
	if err != nil {
		return nil, "", fmt.Errorf("--addr: %w", err)
	}
	if cert == nil {
		log.Info("serving plain HTTP: put a TLS-terminating proxy in front, since the sign-in cookie is Secure")
		return ln, "http", nil
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}), "https", nil
}

func (o *serveOptions) run(cmd *cobra.Command) error {
	root, err := o.check()
	if err != nil {
		return usageError{err}
	}
	cert, err := o.loadCert()
	if err != nil {
		return badInput{err}
	}
	clients, err := o.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return badInput{err}
	}
	// The dashboard outlives the command's context by --shutdown-delay:
	// it serves, not ready, until its endpoints are gone.
	ctx := cmd.Context()
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	s, err := dashboard.New(dctx, dashboard.Options{Clients: clients, Namespaces: o.kube.namespaces, Log: log, RootPath: root,
		Serve: &dashboard.ServeOptions{TokenHeader: o.tokenHeader, SessionTTL: o.sessionTTL}})
	if err != nil {
		return badInput{err}
	}
	ln, scheme, err := o.listen(ctx, cert, log)
	if err != nil {
		return badInput{err}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "dashboard: %s://%s%s/ (namespaces %s)\n", scheme, ln.Addr(), root, strings.Join(s.Namespaces(), ", "))
	return serve(ctx, ln, s.Handler(), func() {
		s.Drain()
		log.Info("stopping: /readyz fails now; connections close after --shutdown-delay", "delay", o.shutdownDelay)
		time.Sleep(o.shutdownDelay)
		stop() // ends the event streams, which shutdown would wait for
	})
}
