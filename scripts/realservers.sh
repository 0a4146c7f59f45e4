#!/usr/bin/env bash
# Installs what the real-server tier runs, pinned, and is fast when it is already there:
# Debian's redis-server and the two exporters (apt), Postgres, moto and the AWS CLI (PyPI venv).
set -euo pipefail
cd "$(dirname "$0")/.."
# The servers run as the manifests' non-root users: the venv needs an interpreter they can read
# (a pyenv under /root is not), so the system one.
PYTHON=${REALSERVERS_PYTHON:-/usr/bin/python3}
# Debian bookworm's versions (the nearest to the images; see README "Real-server tests").
APT_PINS=(
  redis-server=5:7.0.15-1~deb12u10 redis-tools=5:7.0.15-1~deb12u10
  prometheus-postgres-exporter=0.11.1-3+b5 prometheus-redis-exporter=1.45.0-2+b4
)
missing=()
for pin in "${APT_PINS[@]}"; do
  [[ "$(dpkg-query -W -f='${Version}' "${pin%%=*}" 2>/dev/null || true)" == "${pin#*=}" ]] || missing+=("$pin")
done
if (( ${#missing[@]} )); then
  echo "== apt: installing ${missing[*]}"
  apt-get update -qq
  # policy-rc.d-less machines would start the daemons: the tests start their own, so stop none here
  # but keep apt from starting them (RUNLEVEL=1 makes invoke-rc.d skip the start).
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
venv=.venv-realservers
if [[ ! -f $venv/.installed || requirements-realservers.txt -nt $venv/.installed ]]; then
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-realservers.txt
  touch "$venv/.installed"
fi
