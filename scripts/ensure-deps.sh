#!/usr/bin/env bash
# Installs the Debian packages Basalt needs when they are missing:
#
#   scripts/ensure-deps.sh run    what `basalt lab` needs (make run): QEMU,
#                                 a static busybox and a kernel
#   scripts/ensure-deps.sh test   what the tests need (make test, the default):
#                                 the run's packages and PostgreSQL, git, Chromium,
#                                 haproxy,
#                                 and the board tests' packages (see below)
#
# Runs apt-get as root on Debian 12. Fails loudly, naming the packages, when
# one cannot be had. It warns when Go is not in the path (it does not
# install Go: Debian 12's golang-go is older than go.mod asks for).
set -euo pipefail

# package -> a path (glob) that proves it is installed
declare -A proof=(
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [busybox-static]=/usr/share/doc/busybox-static
  [linux-image-amd64]='/boot/vmlinuz-*'
  [postgresql]=/usr/lib/postgresql
  [git]=/usr/lib/git-core/git-http-backend
  [chromium]=/usr/bin/chromium
  [python3-jinja2]=/usr/lib/python3/dist-packages/jinja2
  [python3-yaml]=/usr/lib/python3/dist-packages/yaml
  [python3-pexpect]=/usr/lib/python3/dist-packages/pexpect
  [tftp-hpa]=/usr/bin/tftp
  [atftp]=/usr/bin/atftp
  [ser2net]=/usr/sbin/ser2net
  [u-boot-qemu]=/usr/lib/u-boot/qemu-x86_64/u-boot.rom
  [ipxe-qemu]=/usr/lib/ipxe/qemu
  [u-boot-tools]=/usr/bin/mkimage
  [bzip2]=/bin/bzip2
  [xz-utils]=/usr/bin/xz
  [zstd]=/usr/bin/zstd
  [lavacli]=/usr/bin/lavacli
  [haproxy]=/usr/sbin/haproxy
)
run_packages=(qemu-system-x86 busybox-static linux-image-amd64)
# The board tests: python3-jinja2 and python3-yaml are the reference for
# device-type templates; tftp-hpa and atftp are TFTP clients; ser2net serves
# a QEMU board's console; u-boot-qemu and ipxe-qemu are its bootloaders;
# u-boot-tools' mkimage checks the U-Boot image headers Basalt writes;
# bzip2 compresses bz2 ramdisks (as on a worker), and it, xz-utils and zstd
# check the ramdisks Basalt compresses. lavacli is LAVA's own client, run
# against Basalt's /RPC2. python3-pexpect is what Debian's lava-dispatcher
# imports beyond python3's own (its MultinodeProtocol, run by the tests
# against Basalt's coordinator listener, comes from Debian's package).
# haproxy is the load balancer in front of the server replicas of
# TestReplicasHAProxy (cmd/basalt/replicas_e2e_test.go).
test_packages=("${run_packages[@]}" postgresql git chromium
  python3-jinja2 python3-yaml python3-pexpect tftp-hpa atftp ser2net u-boot-qemu ipxe-qemu u-boot-tools
  bzip2 xz-utils zstd lavacli haproxy)

mode=${1:-test}
case $mode in
  run) packages=("${run_packages[@]}") ;;
  test) packages=("${test_packages[@]}") ;;
  *)
    echo "usage: $0 [run|test]" >&2
    exit 2
    ;;
esac

fail() {
  echo "ensure-deps: $*" >&2
  exit 1
}

# Go is not a Debian package here (Debian 12's golang-go is too old): only
# say so when it is not in the path (it may be, for the user, but not
# under sudo's secure_path).
gomod=$(dirname "$0")/../go.mod
goversion=$(awk '$1 == "go" {print $2; exit}' "$gomod" 2>/dev/null || true)
if ! command -v go >/dev/null; then
  echo "ensure-deps: warning: go is not in the path: building Basalt needs Go ${goversion:-(see go.mod)} or later, from https://go.dev/dl/ (Debian 12's golang-go is too old; Go 1.21 or later fetches the right toolchain itself)" >&2
fi

present() { compgen -G "$1" >/dev/null; }

missing=()
for pkg in "${packages[@]}"; do
  present "${proof[$pkg]}" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  fail "missing Debian packages: ${missing[*]}. Install them as root: apt-get install ${missing[*]} (or run this again as root: sudo $0 $mode)"
fi
if ! command -v apt-get >/dev/null; then
  fail "missing Debian packages: ${missing[*]}, and there is no apt-get here to install them: install their equivalents by hand"
fi
echo "ensure-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || fail "apt-get update failed: cannot install ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
  fail "apt-get install ${missing[*]} failed (see above)"
for pkg in "${missing[@]}"; do
  present "${proof[$pkg]}" || fail "$pkg is installed but ${proof[$pkg]} is not there"
done
