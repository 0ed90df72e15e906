// Command webapp is the real node's test app, imported as tomcat:7, :8 and
// :9 so that the article's manifests run unchanged. It answers
// "Apache Tomcat/<major>" and its pod's name, and behaves like real apps,
// good and bad, as its environment says:
//
//	TOMCAT_MAJOR   the major version it reports (set by the image)
//	LISTEN         address, default :8080
//	START_DELAY    how long / answers 503 after the start (a warming app)
//	ON_SIGTERM     "drain" (default): keep serving DRAIN_AFTER, then stop
//	               accepting and finish the requests in flight; "exit": exit
//	               at once, as a naive app does
//	DRAIN_AFTER    default 0
//	FAIL           "1": every request to / answers 500
//
// It speaks HTTP/1.1 and HTTP/2 over cleartext (prior knowledge, as gRPC
// clients use it); on drain, HTTP/2 clients get a GOAWAY. /slow?d=2s holds
// a request open; /reset answers nothing and resets the connection (an
// RST, as a process that exits with a request unread sends); /healthz
// always answers 200. The image
// has no shell: "/webapp sleep N" sleeps N seconds, for an exec preStop.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "sleep" {
		sleep(os.Args[2]) // the image has no shell: "/webapp sleep 5" is its exec preStop
		return
	}
	if err := run(); err != nil {
		slog.Error("webapp", "err", err)
		os.Exit(1)
	}
}

func run() error {
	startDelay, err := duration("START_DELAY")
	if err != nil {
		return err
	}
	drainAfter, err := duration("DRAIN_AFTER")
	if err != nil {
		return err
	}
	started := time.Now()
	body := fmt.Sprintf("Apache Tomcat/%s %s\n", os.Getenv("TOMCAT_MAJOR"), os.Getenv("HOSTNAME"))
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case time.Since(started) < startDelay:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case os.Getenv("FAIL") == "1":
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
		default:
			fmt.Fprint(w, body)
		}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/reset", reset)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
			fmt.Fprint(w, body)
		case <-r.Context().Done():
		}
	})
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errs:
		return err
	case <-sigs:
	}
	if os.Getenv("ON_SIGTERM") == "exit" {
		os.Exit(0)
	}
	slog.Info("SIGTERM: draining", "serving for", drainAfter)
	time.Sleep(drainAfter)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// reset closes the request's connection with an RST: SO_LINGER 0, no FIN.
func reset(w http.ResponseWriter, _ *http.Request) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot reset this connection (HTTP/2)", http.StatusBadRequest)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func duration(env string) (time.Duration, error) {
	v := os.Getenv(env)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", env, err)
	}
	return d, nil
}

func sleep(seconds string) {
	d, err := time.ParseDuration(seconds + "s")
	if err != nil {
		slog.Error("sleep", "err", err)
		os.Exit(2)
	}
	time.Sleep(d)
}
