#!/usr/bin/env bash
# Start a local Redis and N Switchboard nodes on loopback ports, for trying a
# cluster by hand (`make cluster`, or `scripts/cluster.sh 3`). Ctrl-C stops all.
#
#   redis      127.0.0.1:${REDIS_PORT:-6390}  (append-only file in data/cluster/)
#   node i     http://127.0.0.1:$((8000 + 10*i))   ws://127.0.0.1:$((8000 + 10*i))/ws (one port)
#
# SHARDS=3 (`make cluster SHARDS=3`) runs a sharded Redis Cluster instead: that
# many primaries on ports REDIS_PORT, REDIS_PORT+1, …, the slots split evenly,
# and the nodes connect with redis+cluster://.
#
# Each node prints the demo agents' tokens; log in on any node, post a
# customer message to another (see the curl line printed), and watch it arrive.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-${NODES:-3}}
SHARDS=${SHARDS:-0}
REDIS_PORT=${REDIS_PORT:-6390}
DATA=data/cluster
BIN=.venv/bin
mkdir -p "$DATA"

bash scripts/ensure-redis.sh
REDIS=$(command -v redis-server || echo "$BIN/redis-server")

pids=()
cleanup() {
    # Nodes first (newest first), Redis last, so no node logs a lost Redis.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
        [ "$i" = 0 ] || wait "${pids[i]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start_redis() {  # port, dir, extra args…
    local port=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    "$REDIS" --port "$port" --bind 127.0.0.1 --dir "$PWD/$dir" --save '' \
        --appendonly yes --appendfsync everysec --logfile "$PWD/$dir/redis.log" "$@" &
    pids+=($!)
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return
        sleep 0.1
    done
}

if [ "$SHARDS" -gt 0 ]; then
    ports=()
    for s in $(seq 0 $((SHARDS - 1))); do
        ports+=($((REDIS_PORT + s)))
        start_redis "${ports[s]}" "$DATA/shard$s" --cluster-enabled yes --cluster-config-file nodes.conf
    done
    # Join them once (nodes.conf remembers the cluster across runs).
    "$BIN/python" - "${ports[@]}" <<'PY'
import sys, time
import redis
ports = [int(p) for p in sys.argv[1:]]
nodes = [redis.Redis(host="127.0.0.1", port=p) for p in ports]
if b"cluster_slots_assigned:0" in nodes[0].execute_command("CLUSTER", "INFO"):  # new: join and split the slots
    for p in ports[1:]:
        nodes[0].execute_command("CLUSTER", "MEET", "127.0.0.1", p)
    per = 16384 // len(ports)
    for i, n in enumerate(nodes):
        hi = 16383 if i == len(nodes) - 1 else (i + 1) * per - 1
        n.execute_command("CLUSTER", "ADDSLOTS", *range(i * per, hi + 1))  # ADDSLOTSRANGE needs Redis 7
for _ in range(200):
    if all(b"cluster_state:ok" in n.execute_command("CLUSTER", "INFO") for n in nodes):
        break
    time.sleep(0.05)
else:
    sys.exit("redis cluster did not come up")
PY
    REDIS_URL="redis+cluster://127.0.0.1:$REDIS_PORT/0"
else
    start_redis "$REDIS_PORT" "$DATA"
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

for i in $(seq 1 "$N"); do
    port=$((8000 + 10 * i))
    SWITCHBOARD_NODE_ID="node$i" \
        "$BIN/switchboard" serve --config server/demo.toml --port "$port" \
        --redis "$REDIS_URL" $([ "$i" = 1 ] && echo --demo) &
    pids+=($!)
done
echo "cluster: $REDIS_URL, $N nodes on http ports $(seq -s ' ' 8010 10 $((8000 + 10 * N)))" >&2
wait
