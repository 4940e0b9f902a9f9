#!/usr/bin/env bash
# The browser tests open the exported dashboards in Debian's Chromium, driven by Debian's
# chromedriver (same version as the browser; nothing is downloaded at test time).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo="sudo"
  else
    echo "install-chromium: need root (or sudo) to install Debian's chromium and chromium-driver" >&2
    exit 1
  fi
fi
echo "install-chromium: installing Debian's chromium and chromium-driver"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
