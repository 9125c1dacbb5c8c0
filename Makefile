# room-registry: every target installs and builds first when needed.
# The two set-up commands (README): `make cluster` and `make test`.

SIM_SEEDS ?= 200
export SIM_SEEDS
NODE ?=
SOURCES := $(shell find src -name '*.ts') tsconfig.json package-lock.json

.PHONY: install build proto test test-unit test-sim cluster cluster-status cluster-kill cluster-restart cluster-down clean

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

test: build
	npx vitest run --update=none

test-unit: install
	npx vitest run --update=none test/unit

test-sim: install
	npx vitest run --update=none test/sim

# The local 3-node cluster of cluster/local.json (data and logs in cluster/data/).
cluster: build
	cluster/cluster.sh up

cluster-status: build
	cluster/cluster.sh status

cluster-kill: build
	cluster/cluster.sh kill $(NODE)

cluster-restart: build
	cluster/cluster.sh restart $(NODE)

cluster-down:
	cluster/cluster.sh down

clean:
	rm -rf dist
