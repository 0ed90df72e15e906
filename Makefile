# cutover: see README.md. Prerequisites: Go, git, gcc. Everything else is built here.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin

.PHONY: all build test test-fast test-gateway test-bed real-node-deps prometheus-deps browser-deps lint cluster demo bench timeline chaos-stress clean

all: build

build:
	$(GO) build -o $(BIN)/cutover ./cmd/cutover
	$(GO) build -o $(BIN)/cutover-testbed ./cmd/cutover-testbed

# The upstream control-plane binaries, built once and cached outside the repo.
test-bed:
	@upstream/build.sh >/dev/null

# go vet with the tests' build flags (-race): the packages it compiles to
# check are then the ones the tests run, built once.
lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet -race ./...

# Everything: lint, then all tests with the race detector on the real test bed.
# Each package starts a test bed of its own, and the tests mostly wait on
# the cluster, so they run in two streams side by side, each one package at
# a time (-p 1): the packages that start the real node (one per machine)
# with a few short ones that even out the streams' lengths, and the others
# (chaos, cmd/cutover...). The first stream's output follows the other's.
# Their code and its dependencies are built first, race-instrumented, on
# every core. Session 13, warm, both streams passed in 22 min (the real
# node's 18 min, the other 22), against 32 one package at a time.
REAL_NODE_STREAM := ./realnode ./internal/testinfra/testbed ./internal/release ./internal/verify \
	./internal/testinfra/dataplane ./internal/testinfra/audit
test: test-bed real-node-deps prometheus-deps browser-deps lint
	$(GO) build -race ./...
	@export CUTOVER_TESTBED_BIN=$$(upstream/build.sh) CUTOVER_GATEWAY_BIN=$$(upstream/gateway.sh); \
	log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	$(GO) test -race -count=1 -p 1 -timeout 40m $(REAL_NODE_STREAM) >$$log 2>&1 & first=$$!; \
	others=$$(comm -23 <($(GO) list ./... | sort) <($(GO) list $(REAL_NODE_STREAM) | sort)); \
	rc=0; $(GO) test -race -count=1 -p 1 -timeout 40m $$others || rc=$$?; \
	firstrc=0; wait $$first || firstrc=$$?; \
	echo "--- the real node's stream ($(REAL_NODE_STREAM)):"; cat $$log; \
	[ $$rc -eq 0 ] && [ $$firstrc -eq 0 ]

# The gateway's tests alone: builds Traefik and the Gateway API CRDs
# (upstream/gateway.sh, cached; about 2-3 min cold) and runs the tests that
# route through them (make test runs them too).
test-gateway: test-bed
	CUTOVER_TESTBED_BIN=$$(upstream/build.sh) CUTOVER_GATEWAY_BIN=$$(upstream/gateway.sh) \
		$(GO) test -race -count=1 -timeout 20m -run Gateway ./internal/testinfra/testbed/ ./cmd/cutover/

# The pure tests only: no control plane is started (go test -short), and
# the tests that need one skip. Seconds, for the edit-test loop.
test-fast:
	$(GO) test -short -count=1 ./...

# A local control plane in the foreground; writes .testbed/kubeconfig. Ctrl-C stops it.
# REALNODE=1 adds a real node (containerd, kubelet, kube-proxy; root): see README.
# As root it also runs Traefik for namespace default (the Gateway API) and a
# Prometheus scraping it; it prints where they listen.
REALNODE ?=
ROOT := $(filter 0,$(shell id -u))
cluster: test-bed build $(if $(REALNODE),real-node-deps) $(if $(ROOT),prometheus-deps)
	CUTOVER_TESTBED_BIN=$$(upstream/build.sh) $(if $(ROOT),CUTOVER_GATEWAY_BIN=$$(upstream/gateway.sh)) \
		$(BIN)/cutover-testbed -kubeconfig .testbed/kubeconfig $(if $(REALNODE),-real-node) $(if $(ROOT),-traefik default)

# The real node's Debian packages (containerd, runc, CNI plugins, nftables), as root.
real-node-deps:
	@upstream/realnode-deps.sh

# Debian's Chromium, for the dashboard's browser tests (chromedp), as root.
browser-deps:
	@upstream/browser-deps.sh

# Debian's Prometheus, for the metric analysis tests (as root; its service
# is left stopped: the tests run their own).
prometheus-deps:
	@upstream/prometheus-deps.sh

# Starts the test bed and shows blue/green, rolling and (as root, with
# Traefik and Prometheus) canary releases on it.
demo: test-bed build $(if $(ROOT),prometheus-deps)
	CUTOVER_TESTBED_BIN=$$(upstream/build.sh) CUTOVER_GATEWAY_BIN=$$(upstream/gateway.sh) hack/demo.sh

clean:
	rm -rf $(BIN) .testbed

# cutover against kubectl on the test bed, side by side; prints the ratios.
# As root it also builds the gateway (upstream/gateway.sh) and Flagger
# (upstream/flagger.sh: about 5 min cold, then cached), installs
# Prometheus, and measures cutover's canary against Flagger's through
# Traefik (TestCanaryAgainstFlagger, about 4 min); without root that one
# skips, saying why.
bench: test-bed $(if $(ROOT),prometheus-deps browser-deps)
	CUTOVER_BENCH=1 CUTOVER_TESTBED_BIN=$$(upstream/build.sh) \
		$(if $(ROOT),CUTOVER_GATEWAY_BIN=$$(upstream/gateway.sh) CUTOVER_FLAGGER_BIN=$$(upstream/flagger.sh)) \
		$(GO) test -count=1 -timeout 45m -v -run . ./bench/
	CUTOVER_TESTBED_BIN=$$(upstream/build.sh) $(GO) test -count=1 -timeout 20m -run '^$$' -bench . -benchtime 50x ./internal/dashboard/

# Prints, release by release, what the watches and cutover saw: where a
# switch spends its milliseconds.
timeline: test-bed
	CUTOVER_BENCH=1 CUTOVER_TIMELINE=1 CUTOVER_TESTBED_BIN=$$(upstream/build.sh) $(GO) test -count=1 -timeout 10m -v -run TestTimeline ./bench/

# One fault over many random seeds (rolling for even seeds, blue/green for
# odd ones), one scenario at a time; prints the summary table. E.g.
#   make chaos-stress FAULT=controller-freeze N=30 SEED=1000 GUARD=false
FAULT ?= apiserver-restart
N ?= 30
SEED ?= 1000
GUARD ?= true
chaos-stress: test-bed
	CUTOVER_TESTBED_BIN=$$(upstream/build.sh) $(GO) test -race -count=1 -timeout 0 -v -run TestChaos ./chaos/ \
		-chaos.fault=$(FAULT) -chaos.n=$(N) -chaos.seed=$(SEED) -chaos.guard=$(GUARD) 2>&1 | grep -v '^[IWE][0-9]'
