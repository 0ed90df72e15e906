#!/usr/bin/env bash
# The seed article's blue/green Jenkins pipeline, replayed in bash on the
# test bed for `make bench`: kubectl for Deploy and Switch, jq for Check Env,
# and the article's verify loop (up to 31 tries, 10 s apart) with curl.
# Usage: replay-bluegreen.sh NAMESPACE VERSION GATEWAY_URL MANIFEST_DIR KUBECONFIG
#
set -euo pipefail
ns=$1 version=$2 gateway=$3 dir=$4
export KUBECONFIG=$5

render() { # FILE: the Jenkins plugin's variable substitution
	sed -e "s/\${TARGET_ROLE}/$target/g" -e "s/\${TOMCAT_VERSION}/$version/g" "$dir/$1"
}
verify() { # URL
	for _ in $(seq 31); do
		if curl -fsS --max-time 5 "$1" | grep -q "Apache Tomcat/$version"; then return 0; fi
		sleep 10
	done
	return 1
}

# Check Env
current=$(kubectl -n "$ns" get service tomcat-service -o json | jq -r '.spec.selector.role')
if [ "$current" = blue ]; then target=green; else target=blue; fi
# Deploy
render tomcat-deployment.yaml | kubectl -n "$ns" apply -f -
render tomcat-test-service.yaml | kubectl -n "$ns" apply -f -
kubectl -n "$ns" rollout status "deployment/tomcat-deployment-$target" --timeout=5m
# Verify Staged
verify "$gateway/$ns/tomcat-test-$target/"
# Switch
render tomcat-service.yaml | kubectl -n "$ns" apply -f -
# Verify Prod
verify "$gateway/$ns/tomcat-service/"
