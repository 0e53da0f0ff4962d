#!/bin/sh
# Installs Debian's Chromium and the CJK fonts the browser tests need, once.
# Browsers come from apt only: never run `playwright install` (no browser downloads).
set -eu

if [ -x /usr/bin/chromium ]; then
    echo "chromium is already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk
/usr/bin/chromium --version
