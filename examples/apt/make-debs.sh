#!/bin/sh
# Rebuilds the example packages in debs/ with dpkg-deb: hello-gateway 1.0.0 and 1.1.0 (a shell
# script, so Architecture: all) and hello-gateway-doc 1.1.0. SOURCE_DATE_EPOCH and fixed modes make
# the files the same on every run; the committed files are the example, run this only to change them.
set -eu
cd "$(dirname "$0")"
export SOURCE_DATE_EPOCH=1735689600
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf debs && mkdir -p debs
build() { # name version description
  root="$work/$1-$2"
  mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/doc/$1"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $1
Version: $2
Architecture: all
Maintainer: gateway example <apt@localhost>
Section: misc
Priority: optional
Description: $3
 An example package served by the gateway's embedded APT repository
 (examples/apt). It installs nothing useful.
CONTROL
  if [ "$1" = hello-gateway ]; then
    printf '#!/bin/sh\necho "hello from the gateway APT example, version %s"\n' "$2" > "$root/usr/bin/hello-gateway"
    chmod 755 "$root/usr/bin/hello-gateway"
  fi
  printf '%s %s: an example package.\n' "$1" "$2" > "$root/usr/share/doc/$1/README"
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz --build "$root" "debs/$1_$2_all.deb" >/dev/null
}
build hello-gateway 1.0.0 "says hello (example, old version)"
build hello-gateway 1.1.0 "says hello (example)"
build hello-gateway-doc 1.1.0 "documentation of hello-gateway (example)"
touch -d "@$SOURCE_DATE_EPOCH" debs/*.deb debs
ls -l debs
