#!/usr/bin/env bash
# Installs the system packages HyperMesh builds and tests against.
# Idempotent and non-interactive: when everything is present it changes nothing and
# touches no network. Adds Debian's bookworm-backports suite (for ngtcp2 1.x), taking
# the mirror URI from the machine's own apt sources rather than naming a host.
set -euo pipefail

main_packages=(
    libsqlite3-dev sqlite3 libyaml-dev libssl-dev libsystemd-dev
    libvulkan-dev mesa-vulkan-drivers glslang-tools vulkan-tools libisal-dev
    crun busybox-static iperf3 iproute2 iptables jq python3 e2fsprogs mount git util-linux
)
backports_packages=(libngtcp2-dev libngtcp2-crypto-gnutls-dev ngtcp2-client ngtcp2-server)
# Python module:pip package: the JSON Schema agreement test, the benchmark peers, and aioquic (an
# independent QUIC implementation the STOQ interop tests fetch with).
python_modules=(jsonschema:jsonschema yaml:pyyaml cryptography:cryptography pyfastcdc:pyfastcdc zfec:zfec aioquic:aioquic
    prometheus_client:prometheus_client)

log() { printf 'install-deps: %s\n' "$*" >&2; }

missing_from() {
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
            || printf '%s\n' "$package"
    done
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The first deb URI of the main Debian suite, from deb822 sources or a classic list.
debian_mirror_uri() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk '
            /^URIs:/   { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") found = uri }
            /^$/       { if (found) { print found; exit } uri = "" }
            END        { if (found) print found }
        ' "$file" | head -n 1
    done | head -n 1
    if [ -f /etc/apt/sources.list ]; then
        awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list
    fi
}

ensure_backports_source() {
    if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 1
    fi
    local uri
    uri=$(debian_mirror_uri | head -n 1)
    if [ -z "$uri" ]; then
        log "no bookworm mirror found in /etc/apt/sources*; cannot add bookworm-backports"
        exit 1
    fi
    log "adding bookworm-backports from $uri"
    as_root tee /etc/apt/sources.list.d/hypermesh-backports.sources >/dev/null <<SOURCES
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    return 0
}

mapfile -t missing_main < <(missing_from "${main_packages[@]}")
mapfile -t missing_backports < <(missing_from "${backports_packages[@]}")
updated=0
if ensure_backports_source; then updated=1; fi

if [ "${#missing_main[@]}" -gt 0 ] || [ "${#missing_backports[@]}" -gt 0 ] || [ "$updated" -eq 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    as_root apt-get update -qq
fi
if [ "${#missing_main[@]}" -gt 0 ]; then
    log "installing ${missing_main[*]}"
    as_root apt-get install -y -qq --no-install-recommends "${missing_main[@]}" >/dev/null
fi
if [ "${#missing_backports[@]}" -gt 0 ]; then
    log "installing from bookworm-backports: ${missing_backports[*]}"
    as_root apt-get install -y -qq --no-install-recommends -t bookworm-backports "${missing_backports[@]}" >/dev/null
fi

for entry in "${python_modules[@]}"; do
    module=${entry%%:*}
    package=${entry#*:}
    if ! python3 -c "import $module" 2>/dev/null; then
        log "installing Python package $package"
        python3 -m pip install --quiet "$package" || python3 -m pip install --quiet --break-system-packages "$package"
    fi
done
exit 0
