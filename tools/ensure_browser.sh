#!/usr/bin/env bash
# Make sure Debian's Chromium and its driver are installed, for the browser test of the explorer
# (tests/test_explorer_browser.py). Idempotent: returns at once when both are there.
# Installs with apt-get (as root, or through `sudo -n`), running `apt-get update` once if needed.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then echo "chromium: $(command -v chromium)"; exit 0; fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_browser: ${missing[*]} missing and this is not a Debian/Ubuntu machine (no apt-get): install Chromium yourself" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
  echo "ensure_browser: ${missing[*]} missing; installing needs root: run 'sudo apt-get install -y chromium chromium-driver'" >&2
  exit 1
fi
apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q -y)
echo "ensure_browser: installing ${missing[*]} with apt-get (about a minute) …"
if ! "${apt[@]}" install chromium chromium-driver >/tmp/ensure_browser.$$.log 2>&1; then
  echo "ensure_browser: first try failed; running apt-get update once and trying again" >&2
  "${apt[@]}" update >>/tmp/ensure_browser.$$.log 2>&1 || true
  if ! "${apt[@]}" install chromium chromium-driver >>/tmp/ensure_browser.$$.log 2>&1; then
    tail -n 20 /tmp/ensure_browser.$$.log >&2; rm -f /tmp/ensure_browser.$$.log
    echo "ensure_browser: apt-get could not install chromium chromium-driver (is a Debian mirror reachable?)" >&2
    exit 1
  fi
fi
rm -f /tmp/ensure_browser.$$.log
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
