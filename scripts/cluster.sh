#!/usr/bin/env bash
# Start a local Redis and N Switchboard nodes on loopback ports, for trying a
# cluster by hand (`make cluster`, or `scripts/cluster.sh 3`). Ctrl-C stops all.
#
#   redis      127.0.0.1:${REDIS_PORT:-6390}  (append-only file in data/cluster/)
#   node i     http://127.0.0.1:$((8000 + 10*i))   ws://127.0.0.1:$((8001 + 10*i))/ws
#
# Each node prints the demo agents' tokens; log in on any node, post a
# customer message to another (see the curl line printed), and watch it arrive.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-${NODES:-3}}
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

"$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/$DATA" --save '' \
    --appendonly yes --appendfsync everysec --logfile "$PWD/$DATA/redis.log" &
pids+=($!)
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/"$REDIS_PORT") 2>/dev/null && break
    sleep 0.1
done

for i in $(seq 1 "$N"); do
    port=$((8000 + 10 * i))
    SWITCHBOARD_NODE_ID="node$i" SWITCHBOARD_WS_PORT=$((port + 1)) \
        "$BIN/switchboard" serve --config server/demo.toml --port "$port" \
        --redis "redis://127.0.0.1:$REDIS_PORT/0" $([ "$i" = 1 ] && echo --demo) &
    pids+=($!)
done
echo "cluster: redis on $REDIS_PORT, $N nodes on http ports $(seq -s ' ' 8010 10 $((8000 + 10 * N)))" >&2
wait
