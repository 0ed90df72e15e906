// Command cutover-testbed runs the local Kubernetes control plane that
// cutover's tests and demo use, in the foreground, until Ctrl-C or SIGTERM.
//
//	go run ./cmd/cutover-testbed [-kubeconfig .testbed/kubeconfig] [-nodes 3]
//
// Once every component is healthy it prints one line:
//
//	testbed ready: kubeconfig=<absolute path>
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/cutover/cutover/internal/testbed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cutover-testbed:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", ".testbed/kubeconfig", "where to write the admin kubeconfig")
	nodes := flag.Int("nodes", 3, "number of fake nodes")
	verbose := flag.Bool("v", false, "log each start-up step")
	flag.Parse()

	abs, err := filepath.Abs(*kubeconfig)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cluster, err := testbed.Start(ctx, testbed.Options{Nodes: *nodes, KubeconfigPath: abs, Logger: log})
	if err != nil {
		return err
	}
	fmt.Printf("testbed ready: kubeconfig=%s\n", abs)
	<-ctx.Done()
	log.Info("stopping test bed")
	if err := cluster.Stop(); err != nil {
		return err
	}
	_ = os.Remove(abs)
	return nil
}
