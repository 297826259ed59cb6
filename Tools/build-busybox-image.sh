#!/usr/bin/env bash
# Builds a small OCI image layout from this machine's static busybox, without a registry or network:
#   Tools/build-busybox-image.sh OUT_DIR [NAME] [--file PATH=TEXT]... [--docker-save TARBALL]
# OUT_DIR gets oci-layout, index.json (ref name NAME, default busybox:latest) and blobs/sha256/ with one
# tar+gzip layer (busybox and its applet links, /etc/passwd, /tmp), the config (Cmd ["sh"]) and the manifest.
# --file adds a file to the layer; --docker-save also writes the same image as a `docker save` tarball (the
# pre-OCI format: manifest.json, <config digest>.json, <id>/layer.tar). The tar is deterministic (sorted, fixed
# owner and time), so the same inputs give the same digests.
set -euo pipefail

out=${1:?usage: build-busybox-image.sh OUT_DIR [NAME] [--file PATH=TEXT]... [--docker-save TARBALL]}
shift
name=busybox:latest
if [ $# -gt 0 ] && [[ $1 != --* ]]; then name=$1; shift; fi
files=()
docker_save=""
while [ $# -gt 0 ]; do
    case "$1" in
        --file) files+=("$2"); shift 2 ;;
        --docker-save) docker_save=$2; shift 2 ;;
        *) echo "build-busybox-image: unknown argument $1" >&2; exit 2 ;;
    esac
done
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build-busybox-image: $busybox is missing (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,data,root}
cp "$busybox" "$root/bin/busybox"
for applet in sh true false echo sleep cat ls dd head tail wc yes env id pwd mkdir rm touch kill ps httpd wget grep sed; do
    ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
for entry in "${files[@]}"; do
    path=${entry%%=*}
    mkdir -p "$root/$(dirname "$path")"
    printf '%s' "${entry#*=}" > "$root/$path"
done

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$work/layer.tar" .
gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
layer_digest=sha256:$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")

cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created_by":"Tools/build-busybox-image.sh"}]}
JSON
config_digest=sha256:$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")
cat > "$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config_digest","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$layer_digest","size":$layer_size}]}
JSON
manifest_digest=sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$work/manifest.json")

rm -rf "$out"
mkdir -p "$out/blobs/sha256"
cp "$work/layer.tar.gz" "$out/blobs/sha256/${layer_digest#sha256:}"
cp "$work/config.json" "$out/blobs/sha256/${config_digest#sha256:}"
cp "$work/manifest.json" "$out/blobs/sha256/${manifest_digest#sha256:}"
printf '{"imageLayoutVersion":"1.0.0"}\n' > "$out/oci-layout"
cat > "$out/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$manifest_digest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"$name"}}]}
JSON

if [ -n "$docker_save" ]; then
    save="$work/save"
    mkdir -p "$save/layer0"
    cp "$work/layer.tar" "$save/layer0/layer.tar"
    cp "$work/config.json" "$save/${config_digest#sha256:}.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer0/layer.tar"]}]\n' "${config_digest#sha256:}" "$name" > "$save/manifest.json"
    tar --sort=name --owner=0 --group=0 --mtime=@0 -C "$save" -cf "$docker_save" .
fi
echo "$config_digest"
