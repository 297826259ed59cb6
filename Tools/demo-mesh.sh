#!/usr/bin/env bash
# make demo-mesh: four agents on one machine, each in a network namespace of its own on a bridge in a fifth
# namespace (10.77.0.0/24 lives only inside them), joined into one mesh; machine 2 offers a pool, machine 1
# claims from it through the ledger; then every node's view, and a clean-up that leaves nothing behind
# (agents, namespaces, cgroups, state). Needs root (network namespaces, cgroups).
set -euo pipefail
BIN=${BIN:-$(pwd)/.build/debug/hypermesh}
DIR=${DEMO_MESH_DIR:-$(pwd)/.demo-mesh}
PREFIX=hmdemo
HUB=${PREFIX}-hub
[ "$(id -u)" = 0 ] || { echo "demo-mesh: needs root (network namespaces and cgroups)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "demo-mesh: $BIN is missing: run make build first" >&2; exit 1; }

cleanup() {
  set +e
  for n in 1 2 3 4; do
    [ -f "$DIR/agent-$n.pid" ] && kill "$(cat "$DIR/agent-$n.pid")" 2>/dev/null
  done
  sleep 1
  for n in 1 2 3 4; do
    [ -f "$DIR/agent-$n.pid" ] && kill -9 "$(cat "$DIR/agent-$n.pid")" 2>/dev/null
    ip netns del ${PREFIX}-$n 2>/dev/null
  done
  ip netns del $HUB 2>/dev/null
  # A claim still bound here (the demo stopped half-way) is released from its state, without agents.
  for n in 1 2 3 4; do
    [ -d "$DIR/n$n" ] || continue
    for claim in $("$BIN" --state-dir "$DIR/n$n" get claims -o name 2>/dev/null); do
      "$BIN" --state-dir "$DIR/n$n" delete claim "${claim#claim/}" --timeout 10s >/dev/null 2>&1
    done
  done
  rm -rf "$DIR"
}
trap cleanup EXIT
cleanup
trap cleanup EXIT
mkdir -p "$DIR"

ip netns add $HUB
ip -n $HUB link add br0 type bridge
ip -n $HUB link set br0 up
for n in 1 2 3 4; do
  ns=${PREFIX}-$n
  ip netns add $ns
  ip link add eth0 netns $ns type veth peer name port$n netns $HUB
  ip -n $HUB link set port$n master br0 up
  ip -n $ns addr add 10.77.0.$n/24 dev eth0
  ip -n $ns link set eth0 up
  ip -n $ns link set lo up
done

# nsenter enters only the network namespace: `ip netns exec` also remounts /sys, which hides the cgroup
# hierarchies, and a provider there could enforce nothing.
hm() { local n=$1; shift; nsenter --net=/run/netns/${PREFIX}-$n "$BIN" --state-dir "$DIR/n$n" "$@"; }
start_agent() {
  local n=$1
  nsenter --net=/run/netns/${PREFIX}-$n "$BIN" agent --state-dir "$DIR/n$n" --http none > "$DIR/agent-$n.log" 2>&1 &
  echo $! > "$DIR/agent-$n.pid"
  for _ in $(seq 1 100); do
    hm "$n" agent status 2>/dev/null | grep -q '^ready' && return 0
    sleep 0.1
  done
  echo "demo-mesh: agent $n did not become ready; its log:" >&2
  tail -20 "$DIR/agent-$n.log" >&2
  exit 1
}

echo "== machine-1 starts the mesh (its CA, its node certificate, the first validator)"
hm 1 mesh init --name demo --node-name machine-1 --listen 10.77.0.1:9292
start_agent 1
for n in 2 3 4; do
  echo "== machine-$n joins with a one-time validator token"
  token=$(hm 1 mesh token --ttl 10m --validator)
  hm $n mesh join 10.77.0.1:9292 --token "$token" --node-name machine-$n --listen 10.77.0.$n:9292
  start_agent $n
done

echo
echo "== the validator set grows through the ledger, one epoch per joiner (1 -> 4 validators)"
for _ in $(seq 1 300); do
  [ "$(hm 4 get nodes -o json | grep -c '"validator": true')" = 4 ] && break
  sleep 0.2
done
hm 1 consensus ledger | grep -E '^(height|epoch)'

echo
echo "== machine-2 offers a pool to the mesh"
cat > "$DIR/pool.yaml" <<YAML
apiVersion: hypermesh/v1
kind: ResourcePool
metadata: {name: shared}
spec:
  privacy: public-network
  cpu: {cores: "1", maxPerClaim: 500m}
  memory: {size: 256Mi, maxPerClaim: 64Mi}
YAML
hm 2 apply -f "$DIR/pool.yaml" --wait=30s
node2=$(hm 2 get mesh -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["status"]["nodeId"])')
for _ in $(seq 1 100); do hm 1 get offers -o json | grep -q 'shared' && break; sleep 0.1; done

echo
echo "== machine-1 claims from it; Bound once machine-2 enforces it"
cat > "$DIR/claim.yaml" <<YAML
apiVersion: hypermesh/v1
kind: Claim
metadata: {name: build-job}
spec: {node: $node2, pool: shared, cpu: 500m, memory: 64Mi}
YAML
hm 1 apply -f "$DIR/claim.yaml"
for _ in $(seq 1 200); do
  [ "$(hm 1 get claim build-job -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get("phase",""))')" = Bound ] && break
  sleep 0.1
done

echo; echo "\$ hypermesh get nodes            (on machine-3)"; hm 3 get nodes
echo; echo "\$ hypermesh get offers           (on machine-4)"; hm 4 get offers
echo; echo "\$ hypermesh get claims           (on machine-1, the consumer)"; hm 1 get claims
echo; echo "\$ hypermesh get allocations      (on machine-2, the provider)"; hm 2 get allocations
echo; echo "\$ hypermesh mesh audit           (on machine-2)"; hm 2 mesh audit

echo
echo "== machine-1 releases the claim; machine-2 frees it"
hm 1 delete -f "$DIR/claim.yaml" --timeout 20s
items() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
for _ in $(seq 1 100); do [ "$(hm 2 get allocations -o json | items)" = 0 ] && break; sleep 0.1; done
hm 2 get allocations
hm 2 delete -f "$DIR/pool.yaml" --timeout 20s
echo
echo "demo-mesh: done; agents, namespaces and state are removed now"
