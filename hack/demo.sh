#!/usr/bin/env bash
# The demo: the article's quickstart on the local test bed, with cutover.
#
#   1. Blue/green, the article's manifests (examples/blue-green): Tomcat 7 to
#      blue (a first deploy creates tomcat-service on blue), then 7 -> 8 to
#      green: verified through green's test Service, approved (the demo
#      answers "cutover approve" for you), switched, verified in production.
#   2. A rolling update: Tomcat 7, then 8, then a 9 whose pods never become
#      ready, which cutover rolls back on its own.
#   3. Canary releases through a real gateway (as root, with
#      CUTOVER_GATEWAY_BIN, which make demo sets): Traefik serves the Gateway
#      API, a real Prometheus scrapes it every second, users' requests flow
#      through it. Tomcat 8 goes 10% -> 50% -> 100%, each weight gated by a
#      PromQL analysis of Traefik's error rate for the canary, and is
#      promoted; a Tomcat 9 whose pages all fail is aborted by that analysis.
#
# kwok's fake pods serve no HTTP: the test bed's data plane does. It runs a
# small HTTP server per ready pod answering "Apache Tomcat/<major>", and a
# gateway that routes /NAMESPACE/SERVICE/PATH through the Service's ready
# EndpointSlice endpoints, as kube-proxy would. The checks below go through it.
set -uo pipefail
cd "$(dirname "$0")/.."

kubeconfig=$PWD/.testbed/demo-kubeconfig
work=$(mktemp -d)
canary=
if [ "$(id -u)" = 0 ] && [ -n "${CUTOVER_GATEWAY_BIN:-}" ] && command -v prometheus >/dev/null; then canary=tomcat-canary; fi
bin/cutover-testbed -kubeconfig "$kubeconfig" -gateway 127.0.0.1:0 ${canary:+-traefik $canary} >"$work/testbed.log" 2>&1 &
testbed=$!
trap 'kill $testbed 2>/dev/null; wait $testbed 2>/dev/null; rm -rf "$work"' EXIT

echo "== starting the test bed (etcd, kube-apiserver, controller manager, scheduler, kwok, data plane)"
until grep -q '^testbed ready' "$work/testbed.log"; do
	if ! kill -0 $testbed 2>/dev/null; then cat "$work/testbed.log"; exit 1; fi
	sleep 0.2
done
grep '^testbed ready\|^gateway\|^traefik\|^prometheus' "$work/testbed.log"
gateway=$(sed -n 's/^gateway: //p' "$work/testbed.log")
export KUBECONFIG=$kubeconfig

# The dashboard, beside the demo, for namespace default.
bin/cutover dashboard --no-browser --by "${USER:-demo}" >"$work/dashboard.log" 2>&1 &
dashboard=$!
trap 'kill $dashboard $testbed 2>/dev/null; wait $dashboard $testbed 2>/dev/null; rm -rf "$work"' EXIT
until grep -q '^dashboard: ' "$work/dashboard.log"; do
	if ! kill -0 $dashboard 2>/dev/null; then cat "$work/dashboard.log"; break; fi
	sleep 0.2
done
dash=$(sed -n 's/^dashboard: \([^ ]*\).*/\1/p' "$work/dashboard.log")
echo "dashboard: $dash (the blue/green release below waits for approval there)"

# The blue/green job of the article as a cutover.yaml: Verify Staged reads
# the new color's test Service, Verify Prod the production Service.
config() { # VERSION
	cat >"$work/cutover.yaml" <<YAML
app: tomcat
strategy: blue-green
files: [$PWD/examples/blue-green]
blueGreen:
  service: tomcat-service
checks:
  - name: test endpoint
    stage: staged
    http: {url: "$gateway/default/tomcat-test-{color}/", contains: "Apache Tomcat/$1"}
    attempts: 31
    interval: 1s
  - name: production
    stage: prod
    http: {url: "$gateway/default/tomcat-service/", contains: "Apache Tomcat/$1"}
    attempts: 5
    interval: 1s
approval:
  mode: manual
  timeout: 5m
YAML
}

echo
echo "== blue/green: Tomcat 7, a first deploy (to blue; tomcat-service is created at Switch)"
config 7
bin/cutover deploy -c "$work/cutover.yaml" --var TOMCAT_VERSION=7 --approval none | cat
echo "-- exit code ${PIPESTATUS[0]}"

echo
echo "== blue/green: Tomcat 7 -> 8 (green), waiting for approval"
config 8
bin/cutover deploy -c "$work/cutover.yaml" --var TOMCAT_VERSION=8 | cat &
deploy=$!
until bin/cutover status tomcat 2>/dev/null | grep -q '^approval: *pending'; do sleep 0.2; done
if [ -t 0 ] && [ -n "$dash" ]; then
	# A person at the terminal approves with a click, or lets the demo.
	echo ">> approve it at ${dash}apps/tomcat, or press Enter and the demo approves"
	while bin/cutover status tomcat 2>/dev/null | grep -q '^approval: *pending'; do
		if read -r -t 0.5 _; then
			bin/cutover approve tomcat --by demo --comment "Ready to go"
			break
		fi
	done
else
	echo ">> the demo answers: cutover approve tomcat"
	bin/cutover approve tomcat --by demo --comment "Ready to go"
fi
wait $deploy
echo "-- exit code $?"
echo
echo "== production now: $(curl -s "$gateway/default/tomcat-service/" | head -1)"
echo
echo "== cutover history tomcat"
bin/cutover history tomcat
echo
echo "== cutover status tomcat (the stage view)"
bin/cutover status tomcat

rolling() { # VERSION BEHAVIOR
	echo
	echo "== rolling update: Tomcat $1${2:+ ($2 pods)}"
	bin/cutover deploy -n tomcat-rolling -f hack/demo/tomcat.yaml --var TOMCAT_VERSION="$1" --var BEHAVIOR="${2:-ready}" --timeout 2m
	echo "-- exit code $?"
}
rolling 7
rolling 8
rolling 9 never-ready
canary_config() {
	cat >"$work/canary.yaml" <<YAML
app: tomcat
namespace: $canary
strategy: canary
files: [$PWD/hack/demo/canary.yaml]
canary:
  httpRoute: tomcat
  scaleDownDelay: 2s
  steps:
    - setWeight: 10
    - analysis: errors
    - setWeight: 50
    - analysis: errors
    - setWeight: 100
    - analysis: errors
checks:
  - name: errors
    analysis:
      metrics:
        - name: canary-error-rate
          prometheus:
            address: $prometheus
            query: 'sum(rate(traefik_service_requests_total{service=~".*-svc-{{.Namespace}}-{{.CanaryService}}-.*",code=~"5.."}[5s]) or vector(0)) / sum(rate(traefik_service_requests_total{service=~".*-svc-{{.Namespace}}-{{.CanaryService}}-.*"}[5s]))'
          initialDelay: 2s
          interval: 1s
          count: 3
          inconclusiveLimit: 3
          successCondition: size(result) == 1 && result[0] < 0.01
          failureCondition: size(result) == 1 && result[0] > 0.05
YAML
}

# users sends a request every 50 ms through Traefik until killed, and
# counts the answers by status in $work/users.
users() {
	while :; do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 2 "$traefik/" >>"$work/users"
		sleep 0.05
	done
}

canary_release() { # VERSION STATUS
	echo
	echo "== canary through Traefik: Tomcat $1${2:+ (every page answers $2)}, 10% -> 50% -> 100%, each weight gated by Prometheus"
	: >"$work/users"
	bin/cutover deploy -c "$work/canary.yaml" --var TOMCAT_VERSION="$1" --var STATUS="${2:-200}" --var GATEWAY="$gateway_name" --timeout 3m
	echo "-- exit code $?; users' answers meanwhile: $(sort "$work/users" | uniq -c | awk '{printf "%s x %s  ", $1, $2}')"
}

if [ -n "$canary" ]; then
	traefik=$(sed -n 's/^traefik: \([^ ]*\).*/\1/p' "$work/testbed.log")
	gateway_name=$(sed -n 's/^traefik: .*gateway=//p' "$work/testbed.log")
	prometheus=$(sed -n 's/^prometheus: //p' "$work/testbed.log")
	canary_config
	echo
	echo "== canary: Tomcat 7, a first release (nothing to compare: it rolls out in full, the route sends to tomcat-stable)"
	bin/cutover deploy -c "$work/canary.yaml" --var TOMCAT_VERSION=7 --var STATUS=200 --var GATEWAY="$gateway_name"
	users &
	load=$!
	canary_release 8
	canary_release 9 500
	kill $load
	echo
	echo "== the route now"
	if command -v kubectl >/dev/null; then kubectl -n "$canary" get httproute tomcat -o jsonpath='{range .spec.rules[0].backendRefs[*]}{.name}={.weight} {end}'; echo; fi
else
	echo
	echo "== canary through a gateway: skipped (needs root, Prometheus and CUTOVER_GATEWAY_BIN: make demo as root has them)"
fi

echo
echo "== what runs now"
if command -v kubectl >/dev/null; then kubectl get deployment,service -o wide -A -l app=tomcat; fi
echo
echo "demo done; the test bed stops now"
