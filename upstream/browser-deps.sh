#!/usr/bin/env bash
# Installs Debian's Chromium once, for the dashboard's browser tests
# (chromedp drives it headless). Needs root; a no-op when it is there. Not
# root: says what is missing and exits 0, and the browser tests skip with
# that reason.
set -euo pipefail

if command -v chromium >/dev/null; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "browser-deps: chromium is missing; run as root to install it (the browser tests skip meanwhile)" >&2
	exit 0
fi
echo "browser-deps: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
