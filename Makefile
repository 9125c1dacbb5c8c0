# room-registry: every target installs and builds first when needed.
# The two set-up commands (README): `make cluster` and `make test`.

SIM_SEEDS ?= 200
export SIM_SEEDS
NODE ?=
SOURCES := $(shell find src -name '*.ts') tsconfig.json package-lock.json

.PHONY: install build proto lint format test test-unit test-sim chaos dr-drill cluster cluster-status cluster-kill cluster-restart cluster-roll cluster-add cluster-remove cluster-down clean \
	bench bench-write bench-read bench-compare bench-failover bench-million bench-sweep bench-wal bench-profile bench-profile-reads \
	bench-learner bench-roll bench-media

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: node_modules/.installed

dist/.built: node_modules/.installed $(SOURCES)
	npx tsc -p tsconfig.json
	touch $@

build: dist/.built

proto: install
	npx buf generate

# Lint (eslint.config.js): promise misuse, import cycles and layers, function length (type-aware, ~20 s);
# then the format check (prettier, 120 columns). `make format` rewrites what the check refuses.
lint: install
	npx eslint .
	npx prettier --check .

format: install
	npx prettier --write .

test: build lint
	npx vitest run --update=none

test-unit: build
	npx vitest run --update=none test/unit

test-sim: build
	npx vitest run --update=none test/sim

# The chaos suite (test/chaos, issue 6): real 3- and 5-node clusters under kill -9, SIGSTOP
# pauses and partitions, then linearizability, acknowledged-write and convergence checks.
# About 3-4 minutes; CHAOS_SEED, CHAOS_SECONDS (and CHAOS_NODES, CHAOS_SCHEDULE) override.
# It runs the compiled suite, so its own sources are a dependency here too.
CHAOS_SOURCES := $(shell find test/chaos test/harness test/sim/checkers -name '*.ts')

dist/.chaos-built: dist/.built $(CHAOS_SOURCES)
	npx tsc -p tsconfig.json
	touch $@

chaos: dist/.chaos-built
	node dist/test/chaos/run-chaos.js

# The disaster-recovery drill (issue 15): a 3-node cluster under load, a backup, every node
# killed and every data dir deleted, a new cluster restored from the backup and checked; it
# prints the time from "all data lost" to "serving". DR_ROOMS (default 5000), DR_TIMEOUT_S.
DR_SOURCES := $(shell find test/dr test/harness -name '*.ts')

dist/.dr-built: dist/.built $(DR_SOURCES)
	npx tsc -p tsconfig.json
	touch $@

dr-drill: dist/.dr-built
	node dist/test/dr/run-dr-drill.js

# The local 3-node cluster of cluster/local.json (data and logs in cluster/data/).
cluster: build
	cluster/cluster.sh up

cluster-status: build
	cluster/cluster.sh status

cluster-kill: build
	cluster/cluster.sh kill $(NODE)

cluster-restart: build
	cluster/cluster.sh restart $(NODE)

# Restarts every node in turn (followers first, the leader last after handing over), each after the one before caught up.
cluster-roll: build
	cluster/cluster.sh roll

# Membership (DESIGN §11): cluster-add starts a spare node of cluster/local.json with --join and
# adds it (promoted to voter once caught up); cluster-remove removes a member, which then exits.
cluster-add: build
	cluster/cluster.sh add $(NODE)

cluster-remove: build
	cluster/cluster.sh remove $(NODE)

cluster-down:
	cluster/cluster.sh down

# Benchmarks (bench/, figures in bench/RESULTS.md). Each scenario starts its own 3-node
# cluster on 127.0.0.1 (free ports, temp dirs, --fsync always) and stops it at the end.
# `make bench` runs all of them once (about 20 minutes on 2 cores, most of it loading the two
# 1 M-room tables); the comparison with etcd joins in when etcd is installed.
# BENCH_REPS / BENCH_DURATION_S / BENCH_ROOMS / BENCH_FAILOVER_REPS / BENCH_LEARNER_DURATION_S /
# BENCH_MEDIA_REPS / BENCH_MEDIA_DURATION_S shape the runs.
BENCH_REPS ?= 1
BENCH_DURATION_S ?= 5
BENCH_ROOMS ?= 1000000
BENCH_FAILOVER_REPS ?= 5
# Seconds per cell of the learner-reads scenario (12 cells per repetition).
BENCH_LEARNER_DURATION_S ?= 3
# A/B pairs and seconds per phase of the media-heartbeats scenario.
BENCH_MEDIA_REPS ?= 2
BENCH_MEDIA_DURATION_S ?= 10
# The node's default snapshot cadence; leave it empty for the worst case (one snapshot after the whole load).
BENCH_SNAPSHOT_INTERVAL ?= 100000
# The bulk-load rate the sweep scenario plans its due time with (rooms/s; lower it on a slower machine).
BENCH_RATE_GUESS ?= 3500
# bench/ runs clusters through the launcher of test/harness/, so a change there rebuilds it too.
BENCH_SOURCES := $(shell find bench test/harness -name '*.ts')
SCENARIOS := node dist/bench/scenarios.js

dist/.bench-built: dist/.built $(BENCH_SOURCES)
	npx tsc -p tsconfig.json
	touch $@

bench: dist/.bench-built
	$(SCENARIOS) throughput --etcd auto --reps $(BENCH_REPS) --duration-s $(BENCH_DURATION_S)
	$(SCENARIOS) failover --reps $(BENCH_FAILOVER_REPS)
	node dist/bench/wal-restart.js --entries 1000000
	$(SCENARIOS) million --rooms $(BENCH_ROOMS) $(if $(BENCH_SNAPSHOT_INTERVAL),--snapshot-interval-entries $(BENCH_SNAPSHOT_INTERVAL))
	$(SCENARIOS) sweep --rooms $(BENCH_ROOMS) --rate-guess $(BENCH_RATE_GUESS)
	$(SCENARIOS) learner-reads --reps $(BENCH_REPS) --duration-s $(BENCH_LEARNER_DURATION_S)
	$(SCENARIOS) rolling-restart
	$(SCENARIOS) media-heartbeats --reps $(BENCH_MEDIA_REPS) --duration-s $(BENCH_MEDIA_DURATION_S)

bench-write: dist/.bench-built
	$(SCENARIOS) throughput --etcd off --ops write --reps $(BENCH_REPS) --duration-s $(BENCH_DURATION_S)

bench-read: dist/.bench-built
	$(SCENARIOS) throughput --etcd off --ops read --reps $(BENCH_REPS) --duration-s $(BENCH_DURATION_S)

# The side-by-side run against etcd: installs nothing, says how when etcd is missing.
bench-compare: dist/.bench-built
	$(SCENARIOS) throughput --etcd require --reps $(BENCH_REPS) --duration-s $(BENCH_DURATION_S)

bench-failover: dist/.bench-built
	$(SCENARIOS) failover --reps $(BENCH_FAILOVER_REPS)

bench-million: dist/.bench-built
	$(SCENARIOS) million --rooms $(BENCH_ROOMS) $(if $(BENCH_SNAPSHOT_INTERVAL),--snapshot-interval-entries $(BENCH_SNAPSHOT_INTERVAL))

bench-sweep: dist/.bench-built
	$(SCENARIOS) sweep --rooms $(BENCH_ROOMS) --rate-guess $(BENCH_RATE_GUESS)

bench-wal: dist/.bench-built
	node dist/bench/wal-restart.js --entries 1000000

# CPU profiles (node --cpu-prof), summarized: the leader under CreateRoom at concurrency 64;
# the leader under linearizable reads and a follower under LOCAL reads (bench-profile-reads).
bench-profile: dist/.bench-built
	$(SCENARIOS) profile --duration-s 15 --concurrency 64

bench-profile-reads: dist/.bench-built
	$(SCENARIOS) profile --op read-linearizable --duration-s 15 --concurrency 64
	$(SCENARIOS) profile --op read-local --duration-s 15 --concurrency 64

# GetRoom on a learner in a region without a voter (a 3-node cluster plus a spare added with
# learner: true), LOCAL and linearizable, side by side with a follower voter (issue 14).
bench-learner: dist/.bench-built
	$(SCENARIOS) learner-reads --reps $(BENCH_REPS) --duration-s $(BENCH_LEARNER_DURATION_S)

# Every node restarted in turn (followers first, the leader last) under steady writes and reads
# through ClusterRoomClient: failed calls (must be 0) and latency during the roll vs before (issue 15).
bench-roll: dist/.bench-built
	$(SCENARIOS) rolling-restart

# CreateRoom at c=64 alone (A) and while 1 000 simulated media nodes heartbeat every 3 s (B), interleaved
# A/B/A/B, then the heartbeats alone against no load: write throughput, p99, CPU per node, CPU per write and
# per heartbeat, the leader's WAL growth (issue 16). About 2 minutes with the defaults.
bench-media: dist/.bench-built
	$(SCENARIOS) media-heartbeats --reps $(BENCH_MEDIA_REPS) --duration-s $(BENCH_MEDIA_DURATION_S)

clean:
	rm -rf dist
