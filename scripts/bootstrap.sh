#!/usr/bin/env bash
# Set up what the station controller needs on a fresh Debian / Raspberry Pi OS machine.
#   scripts/bootstrap.sh            uv + the Python environment (uv.lock)
#   scripts/bootstrap.sh --test     also the Debian packages the test suite uses
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Building pyscard needs a compiler, the Python headers and the PC/SC headers.
for p in gcc python3-dev libpcsclite-dev; do have_pkg "$p" || need_pkgs+=("$p"); done
if [ "$want_test" = 1 ]; then
  # systemd: systemd-analyze verifies the units; chromium + fonts-noto-cjk: the web view test in a real
  # headless browser (Playwright drives Debian's chromium; no browser is downloaded), Chinese names;
  # faketime: the clock-step chaos test (libfaketime).
  for p in mosquitto mosquitto-clients pcscd vsmartcard-vpcd socat tmux systemd chromium fonts-noto-cjk faketime libfaketime; do
    have_pkg "$p" || need_pkgs+=("$p")
  done
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian packages: ${need_pkgs[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "bootstrap: please install: ${need_pkgs[*]}" >&2
  fi
fi
# The mosquitto package starts a system broker on port 1883; the tests start their own on free ports.
# mosquitto-clients: a plain mosquitto_sub is the centre of one uplink test.

UV="$(command -v uv || true)"
if [ -z "$UV" ] && [ -x "$HOME/.local/bin/uv" ]; then UV="$HOME/.local/bin/uv"; fi
if [ -z "$UV" ]; then
  echo "bootstrap: installing uv from PyPI"
  python3 -m pip install --user --quiet uv 2>/dev/null \
    || python3 -m pip install --user --quiet --break-system-packages uv
  UV="$HOME/.local/bin/uv"
  command -v uv >/dev/null && UV="$(command -v uv)"
fi
export UV_PYTHON_DOWNLOADS=never
"$UV" sync --frozen --quiet
echo "$UV" > .venv/.uv-path
