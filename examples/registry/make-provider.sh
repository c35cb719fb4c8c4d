#!/bin/sh
# Rebuilds the example provider release in the goreleaser layout (terraform.md §3.3) and signs its
# SHA256SUMS with a fresh key, whose public half goes to keys/acme-signing.asc. The private key
# is thrown away: the committed files are the example; run this only to change them.
set -eu
cd "$(dirname "$0")"
type=hello
version=1.0.0
out=providers/acme/$type/$version
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for platform in linux_amd64 linux_arm64 darwin_arm64; do
  printf '#!/bin/sh\necho "terraform-provider-%s %s (%s): an example, it does nothing"\n' "$type" "$version" "$platform" > "$work/terraform-provider-${type}_v$version"
  chmod 755 "$work/terraform-provider-${type}_v$version"
  (cd "$work" && rm -f p.zip && python3 -c "
import zipfile, sys
with zipfile.ZipFile('p.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo('terraform-provider-${type}_v$version', date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open('terraform-provider-${type}_v$version', 'rb').read())
")
  mv "$work/p.zip" "$out/terraform-provider-${type}_${version}_${platform}.zip"
done
printf '{"version":1,"metadata":{"protocol_versions":["5.0"]}}\n' > "$out/terraform-provider-${type}_${version}_manifest.json"
(cd "$out" && sha256sum terraform-provider-${type}_${version}_*.zip terraform-provider-${type}_${version}_manifest.json > terraform-provider-${type}_${version}_SHA256SUMS)
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "acme example provider signing <providers@example.com>" rsa3072 sign never
gpg --batch --quiet --armor --export > keys/acme-signing.asc
gpg --batch --quiet --detach-sign --output "$out/terraform-provider-${type}_${version}_SHA256SUMS.sig" "$out/terraform-provider-${type}_${version}_SHA256SUMS"
echo "made $out, signed by $(gpg --batch --list-keys --with-colons | awk -F: '/^pub/ {print $5}')"
