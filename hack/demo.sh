#!/usr/bin/env bash
# The demo: start the local test bed, then with cutover deploy Tomcat 7, roll
# it to Tomcat 8, and try a Tomcat 9 whose pods never become ready, which
# cutover rolls back on its own. Run it with `make demo`.
set -uo pipefail
cd "$(dirname "$0")/.."

kubeconfig=$PWD/.testbed/demo-kubeconfig
log=$(mktemp)
bin/cutover-testbed -kubeconfig "$kubeconfig" >"$log" 2>&1 &
testbed=$!
trap 'kill $testbed 2>/dev/null; wait $testbed 2>/dev/null; rm -f "$log"' EXIT

echo "== starting the test bed (etcd, kube-apiserver, controller manager, scheduler, kwok)"
until grep -q '^testbed ready' "$log"; do
	if ! kill -0 $testbed 2>/dev/null; then cat "$log"; exit 1; fi
	sleep 0.2
done
grep '^testbed ready' "$log"
export KUBECONFIG=$kubeconfig

deploy() { # VERSION BEHAVIOR
	echo
	echo "== cutover deploy: Tomcat $1${2:+ ($2 pods)}"
	bin/cutover deploy -f hack/demo/tomcat.yaml --var TOMCAT_VERSION="$1" --var BEHAVIOR="${2:-ready}" --timeout 2m
	echo "-- exit code $?"
}
deploy 7
deploy 8
deploy 9 never-ready
echo
echo "== what runs now"
if command -v kubectl >/dev/null; then kubectl get deployment,pods -o wide; fi
echo
echo "demo done; the test bed stops now"
