#!/usr/bin/env bash
# Set up this checkout for the notebooks and the whole test suite:
#   1. the Debian packages the tests use, installed when missing if apt-get is here and we are root
#      or have passwordless sudo; otherwise the script names them and carries on (the tests that
#      need them are then skipped, with a message naming the package):
#        chromium chromium-driver   headless browser for tests/test_browser.py (never `playwright install`)
#        dataset-fashion-mnist      the original FashionMNIST files, for notebook 07's offline "other data"
#   2. python3 -m pip install -r requirements.txt (torch, Jupyter, papermill, pytest, `helpers` itself).
#
# Usage: bash scripts/setup.sh
# SETUP_REQUIRE_PACKAGES=1 (set by .ci/run) makes a package that cannot be installed an error.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(chromium chromium-driver dataset-fashion-mnist)
require=${SETUP_REQUIRE_PACKAGES:-0}

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in "${PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
else
  missing=("${PACKAGES[@]}")    # not Debian/Ubuntu: nothing can tell us, so name them all
fi

not_installed() {   # $1: why
  echo "setup: the system packages ${missing[*]} are not installed ($1)." >&2
  if [ "$require" = 1 ]; then
    echo "setup: SETUP_REQUIRE_PACKAGES=1: stopping." >&2
    exit 1
  fi
  echo "setup: install them with: sudo apt-get install ${missing[*]}" >&2
  echo "setup: until then the tests that need them are skipped (tests/test_browser.py without" \
       "chromium; notebook 07's FashionMNIST checks without dataset-fashion-mnist)." >&2
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: Debian packages present: ${PACKAGES[*]}"
elif ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  not_installed "no apt-get here"
else
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
      as_root=(sudo -n)
    else
      as_root=(none)
    fi
  fi
  if [ "${as_root[*]-}" = none ]; then
    not_installed "installing them needs root or passwordless sudo"
  else
    echo "setup: installing Debian packages: ${missing[*]}"
    if ! { ${as_root[@]+"${as_root[@]}"} apt-get update -q &&
           ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -q "${missing[@]}"; }; then
      not_installed "apt-get failed"
    fi
  fi
fi

echo "setup: python3 -m pip install -r requirements.txt"
python3 -m pip install -q -r requirements.txt
