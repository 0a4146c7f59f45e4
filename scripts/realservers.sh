#!/usr/bin/env bash
# Installs what the real-server tier runs, pinned, and is fast when it is already there:
# Debian's redis-server, the two exporters and a Prometheus server (apt), Postgres, moto and the AWS CLI
# (PyPI venv). The Prometheus server scrapes real processes in tests/integration/test_metrics_contract.py:
# Debian's package, instead of a 15-20 minute Go build of the chart's version.
set -euo pipefail
cd "$(dirname "$0")/.."
# The servers run as the manifests' non-root users: the venv needs an interpreter they can read
# (a pyenv under /root is not), so the system one.
PYTHON=${REALSERVERS_PYTHON:-/usr/bin/python3}
# Debian bookworm's versions (the nearest to the images; see README "Real-server tests").
# Pinned to the upstream version; the Debian revision is left free (a glob), because the archive
# keeps only the newest security revision and an exact pin would break on the next security fix.
APT_PINS=(
  'redis-server=5:7.0.15-*' 'redis-tools=5:7.0.15-*'
  'prometheus-postgres-exporter=0.11.1-*' 'prometheus-redis-exporter=1.45.0-*'
  'prometheus=2.42.0+ds-*'
)
missing=()
for pin in "${APT_PINS[@]}"; do
  # shellcheck disable=SC2053 # the right side is a glob on purpose
  [[ "$(dpkg-query -W -f='${Version}' "${pin%%=*}" 2>/dev/null || true)" == ${pin#*=} ]] || missing+=("$pin")
done
if (( ${#missing[@]} )); then
  echo "== apt: installing ${missing[*]}"
  sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)  # a CI runner that is not root
  "${sudo[@]}" apt-get update -qq
  # Keep apt from starting the daemons (RUNLEVEL=1 makes invoke-rc.d skip the start): the tests start their own.
  "${sudo[@]}" env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
venv=.venv-realservers
if [[ ! -f $venv/.installed || requirements-realservers.txt -nt $venv/.installed ]]; then
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements-realservers.txt
  touch "$venv/.installed"
fi
