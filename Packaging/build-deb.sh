#!/usr/bin/env bash
# Builds hypermesh_VERSION_ARCH.deb with dpkg-deb: the binary, the systemd unit, sysusers.d and
# tmpfiles.d files, a sample /etc/hypermesh/agent.yaml, shell completions, examples, and the
# Grafana dashboard.
#
# Usage: Packaging/build-deb.sh [--binary PATH] [--out DIR] [--fast]
#   --binary  a built hypermesh (default: a release build with the Swift runtime linked statically,
#             so the package needs no Swift toolchain on the target)
#   --out     where to write the .deb (default: .build/deb)
#   --fast    gzip -1 instead of xz (tests)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
binary=""
out="$root/.build/deb"
compression=(-Zxz)
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --fast) compression=(-Zgzip -z1); shift ;;
        *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    (cd "$root" && swift build -c release --product hypermesh --static-swift-stdlib \
        && swift build -c release --product hypermesh-shim)
    binary="$root/.build/release/hypermesh"
fi
[ -x "$binary" ] || { echo "build-deb: $binary is not an executable" >&2; exit 1; }

version="0.1.0"
if git -C "$root" rev-parse --short HEAD >/dev/null 2>&1; then
    version="0.1.0+git$(git -C "$root" rev-list --count HEAD).$(git -C "$root" rev-parse --short HEAD)"
fi
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$binary" "$stage/usr/bin/hypermesh"
# The container shim, beside the binary that looks for it first (then /usr/lib/hypermesh).
install -D -m 0755 "$(dirname "$binary")/hypermesh-shim" "$stage/usr/lib/hypermesh/hypermesh-shim"
install -D -m 0644 "$root/Packaging/systemd/hypermesh.service" "$stage/lib/systemd/system/hypermesh.service"
install -D -m 0644 "$root/Packaging/systemd/hypermesh.sysusers.conf" "$stage/usr/lib/sysusers.d/hypermesh.conf"
install -D -m 0644 "$root/Packaging/systemd/hypermesh.tmpfiles.conf" "$stage/usr/lib/tmpfiles.d/hypermesh.conf"
install -D -m 0640 "$root/Packaging/agent.yaml" "$stage/etc/hypermesh/agent.yaml"
install -D -m 0644 "$root/Packaging/grafana-dashboard.json" "$stage/usr/share/hypermesh/grafana-dashboard.json"
for example in "$root"/Examples/*/*.yaml; do
    set_name=$(basename "$(dirname "$example")")
    install -D -m 0644 "$example" "$stage/usr/share/doc/hypermesh/examples/$set_name/$(basename "$example")"
done
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
    "$stage/usr/share/fish/vendor_completions.d"
"$binary" --generate-completion-script bash > "$stage/usr/share/bash-completion/completions/hypermesh"
"$binary" --generate-completion-script zsh > "$stage/usr/share/zsh/vendor-completions/_hypermesh"
"$binary" --generate-completion-script fish > "$stage/usr/share/fish/vendor_completions.d/hypermesh.fish"

installed_kb=$(du -sk "$stage" | cut -f1)
install -d "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: hypermesh
Version: $version
Architecture: $arch
Maintainer: HyperMesh developers <hypermesh@localhost>
Installed-Size: $installed_kb
Depends: libc6, libsqlite3-0, libgnutls30, libngtcp2-16, libngtcp2-crypto-gnutls8, libsystemd0, libvulkan1, libisal2, libstdc++6, zlib1g
Recommends: mesa-vulkan-drivers, iproute2, crun, util-linux, tar
Section: net
Priority: optional
Homepage: https://github.com/hypermesh/hypermesh
Description: mesh of shared machine resources, declared in YAML
 hypermesh turns the machines of a group of people into one mesh of shared resources:
 resource pools with sharing limits and privacy levels, claims on them, mirroring
 policies for data and certificates to keep valid. "hypermesh apply" works without a
 daemon; hypermesh.service runs the agent that reconciles continuously.
CONTROL
echo "/etc/hypermesh/agent.yaml" > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    systemd-sysusers hypermesh.conf >/dev/null 2>&1 || true
    systemd-tmpfiles --create hypermesh.conf >/dev/null 2>&1 || true
    chgrp hypermesh /etc/hypermesh/agent.yaml 2>/dev/null || true
    if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
fi
POSTINST
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"

mkdir -p "$out"
package="$out/hypermesh_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compression[@]}" --build "$stage" "$package" >/dev/null
echo "$package"
