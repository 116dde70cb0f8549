#!/usr/bin/env bash
# Install the Debian packages the test suite needs when they are missing (PostgreSQL, RabbitMQ,
# Prometheus for promtool, Chromium for the dashboard's browser test, xmlsec1 for XML-DSig interop).
# Needs root (or sudo) and the Debian package registry; says clearly what is missing otherwise.
set -euo pipefail

need=()
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)  # promtool checks the alert rules
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the dashboard is tested in a real browser
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)  # XML-DSig cross-checked against an independent implementation

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

echo "test setup: installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "test setup: MISSING ${need[*]} and not root: install them with apt-get, then re-run." >&2
    exit 3
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the packages from starting system-wide services: the tests start their own on loopback.
if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "test setup: installed ${need[*]}"
