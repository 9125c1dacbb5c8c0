#!/usr/bin/env bash
# Runs the local cluster of cluster/local.json: data, logs and pid files under cluster/data/.
# Usage: cluster.sh up | status | kill NODE | restart NODE | roll | add NODE | remove NODE | down
# `up` starts the founding nodes; the spare ones ("spare": true) join with `add` (DESIGN §11).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
config="${CLUSTER_CONFIG:-$here/local.json}"
data="${CLUSTER_DATA:-$here/data}"
cli=(node "$root/dist/src/main.js")
nodes=$(node -e 'for (const n of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).nodes) console.log(n.id)' "$config")
founders=$(node -e 'for (const n of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).nodes) if (!n.spare) console.log(n.id)' "$config")

# node_field ID FIELD prints one field of a node entry of the config (empty when absent).
node_field() {
  node -e 'const n = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).nodes.find((x) => x.id === process.argv[2]);
    if (!n) { console.error(`no node ${process.argv[2]} in ${process.argv[1]}`); process.exit(2); }
    console.log(n[process.argv[3]] ?? "")' "$config" "$1" "$2"
}

running() { # pid file exists and the process is alive
  local pidfile="$data/$1.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start_node() {
  local id=$1
  if running "$id"; then echo "$id is already running (pid $(cat "$data/$id.pid"))"; return; fi
  # A node's first start initializes its data dir (a founder) or waits to be added (a spare);
  # later ones refuse an empty dir (a lost disk).
  local init=()
  if [[ ! -d "$data/$id" ]]; then
    if [[ "$(node_field "$id" spare)" == "true" ]]; then init=(--join); else init=(--initial-cluster-state new); fi
  fi
  mkdir -p "$data/$id"
  nohup "${cli[@]}" serve --config "$config" --id "$id" --data-dir "$data/$id" ${init[@]+"${init[@]}"} >>"$data/$id.log" 2>&1 &
  echo $! >"$data/$id.pid"
  echo "started $id (pid $!, log $data/$id.log)"
}

stop_node() { # SIGTERM (a leader hands over first), then wait until the process is gone
  local id=$1
  if running "$id"; then kill -TERM "$(cat "$data/$id.pid")"; while running "$id"; do sleep 0.1; done; fi
}

# status_field EXPR: evaluates EXPR over the cluster's status JSON (s); empty when there is no answer.
status_field() {
  "${cli[@]}" status --config "$config" --json 2>/dev/null |
    node -e 'let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => {
      try { const s = JSON.parse(t); const v = ('"$1"'); if (v !== undefined && v !== null) console.log(v); } catch {} });' || true
}

# wait_caught_up NODE: until NODE answers and has applied what the leader had committed when it did.
wait_caught_up() {
  local id=$1 target="" applied
  for _ in $(seq 1 600); do
    if [[ -z "$target" ]]; then
      target=$(status_field 's.leader && s.nodes.find((n) => n.id === "'"$id"'")?.status ? s.nodes.find((n) => n.id === s.leader)?.status?.commitIndex : undefined')
    else
      applied=$(status_field 's.nodes.find((n) => n.id === "'"$id"'")?.status?.appliedIndex')
      if [[ -n "$applied" && "$applied" -ge "$target" ]]; then echo "$id caught up (applied $applied >= $target)"; return 0; fi
    fi
    sleep 0.1
  done
  echo "$id did not catch up within 60 s; stopping the roll" >&2
  exit 1
}

case "${1:-}" in
  up)
    for id in $founders; do start_node "$id"; done
    "${cli[@]}" status --config "$config" --wait-leader-ms 15000
    node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      for (const n of c.nodes) console.log(`${n.id}: gRPC ${n.grpc}  Twirp/HTTP http://${n.http}  peer ${n.peer}`);
      const [k] = Object.keys(c.apiKeys); console.log(`API key ${k} (secret in ${process.argv[1]})`);' "$config"
    ;;
  status)
    "${cli[@]}" status --config "$config"
    ;;
  kill)
    id=${2:?usage: cluster.sh kill NODE}
    if running "$id"; then kill -9 "$(cat "$data/$id.pid")"; echo "killed $id with SIGKILL"; else echo "$id is not running"; fi
    rm -f "$data/$id.pid"
    ;;
  restart)
    id=${2:?usage: cluster.sh restart NODE}
    stop_node "$id"
    start_node "$id"
    ;;
  roll)
    # Every node in turn, followers first and the leader last (SIGTERM makes it hand over), each
    # only after the one before caught up: a client that retries UNAVAILABLE sees no failed call.
    leader=$(status_field 's.leader')
    for id in $nodes; do
      if [[ "$id" == "$leader" ]] || ! running "$id"; then continue; fi # spares not started are not members
      stop_node "$id"; start_node "$id"; wait_caught_up "$id"
    done
    if [[ -n "$leader" ]]; then stop_node "$leader"; start_node "$leader"; wait_caught_up "$leader"; fi
    "${cli[@]}" status --config "$config"
    ;;
  add)
    id=${2:?usage: cluster.sh add NODE}
    start_node "$id"
    "${cli[@]}" members add --config "$config" --id "$id" --region "$(node_field "$id" region)" \
      --grpc "$(node_field "$id" grpc)" --peer "$(node_field "$id" peer)" --http "$(node_field "$id" http)" --wait-ms 30000
    ;;
  remove)
    id=${2:?usage: cluster.sh remove NODE}
    "${cli[@]}" members remove "$id" --config "$config"
    # The removed node exits by itself once it learns of its removal.
    for _ in $(seq 1 100); do running "$id" || break; sleep 0.1; done
    if running "$id"; then echo "$id is still running after its removal"; else rm -f "$data/$id.pid"; fi
    echo "$id's data dir ($data/$id) can no longer start; remove it before adding $id again"
    ;;
  down)
    for id in $nodes; do
      if running "$id"; then kill -TERM "$(cat "$data/$id.pid")"; fi
    done
    for id in $nodes; do
      for _ in $(seq 1 100); do running "$id" || break; sleep 0.1; done
      if running "$id"; then kill -9 "$(cat "$data/$id.pid")"; echo "$id did not stop in 10 s: killed"; fi
      rm -f "$data/$id.pid"
    done
    echo "cluster stopped (data kept in $data; rm -rf it for a fresh cluster)"
    ;;
  *)
    echo "usage: cluster.sh up | status | kill NODE | restart NODE | roll | add NODE | remove NODE | down" >&2
    exit 2
    ;;
esac
