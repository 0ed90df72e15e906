#!/usr/bin/env bash
# The demo: start the local test bed, deploy Tomcat 7, then roll it to
# Tomcat 8 and watch the rollout. Run it with `make demo`.
set -euo pipefail
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
kubectl get nodes

deploy() {
	echo
	echo "== deploying Tomcat $1"
	sed "s/\${TOMCAT_VERSION}/$1/" examples/rolling-update/deployment.yaml | kubectl apply --server-side -f -
	kubectl rollout status deployment/tomcat-deployment-rolling-update --timeout=60s
	kubectl get pods -l app=tomcat -o custom-columns=POD:.metadata.name,IMAGE:.spec.containers[0].image,READY:.status.containerStatuses[0].ready
}
deploy 7
deploy 8
echo
echo "demo done; the test bed stops now"
