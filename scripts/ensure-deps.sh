#!/usr/bin/env bash
# Installs the system packages Basalt's tests need when they are missing.
# Runs as root on Debian 12 (apt-get); fails loudly when a package cannot be had.
set -euo pipefail

# package -> a path (glob) that proves it is installed
declare -A need=(
  [postgresql]=/usr/lib/postgresql
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [busybox-static]=/usr/share/doc/busybox-static
  [linux-image-amd64]='/boot/vmlinuz-*'
  [git]=/usr/lib/git-core/git-http-backend
  [chromium]=/usr/bin/chromium
)

present() { compgen -G "$1" >/dev/null; }

missing=()
for pkg in "${!need[@]}"; do
  present "${need[$pkg]}" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-deps: missing packages: ${missing[*]}; run as root or install them" >&2
  exit 1
fi
echo "ensure-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
for pkg in "${missing[@]}"; do
  if ! present "${need[$pkg]}"; then
    echo "ensure-deps: $pkg did not install ${need[$pkg]}" >&2
    exit 1
  fi
done
