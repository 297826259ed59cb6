#!/usr/bin/env bash
# The workload part of `make demo`: builds a busybox OCI image locally, applies Examples/workloads/hello.yaml into
# the demo's claim, waits for it to finish and prints its log. Needs root and crun (containers need cgroups,
# mounts and namespaces); elsewhere it says why it is skipped.
#   Tools/demo-workload.sh BIN STATE_DIR DEMO_DIR
set -euo pipefail
bin=$1 state=$2 demo=$3
if [ "$(id -u)" -ne 0 ] || ! command -v crun >/dev/null; then
    echo "Workload demo skipped: running containers needs root and crun."
    exit 0
fi
[ -d "$demo/images/busybox" ] || "$(dirname "$0")/build-busybox-image.sh" "$demo/images/busybox" >/dev/null
sed "s|\${DEMO_DIR}|$demo|g" "$(dirname "$0")/../Examples/workloads/hello.yaml" > "$demo/specs/hello-workload.yaml"
"$bin" --state-dir "$state" apply -f "$demo/specs/hello-workload.yaml" --wait=60s
echo
"$bin" --state-dir "$state" get workloads
echo
echo "\$ hypermesh logs hello"
"$bin" --state-dir "$state" logs hello
