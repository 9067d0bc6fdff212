#!/bin/sh
# Installs the browser the web-chat tests drive: Debian's chromium package, when no Chromium is
# on the machine yet. The README's test command runs this first; it needs root (or sudo) and apt.
set -e
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install_chromium.sh: no Chromium found and not root; install Debian's chromium package" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
    || { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends chromium >/dev/null; }
command -v chromium >/dev/null
