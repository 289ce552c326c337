#!/bin/sh
# Install Debian packages the local stack or the tests need (as root, or with sudo).
set -eu
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "cutman needs these Debian packages: $*" >&2
    echo "install them as root: apt-get install -y $*" >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
