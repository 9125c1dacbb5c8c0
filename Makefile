# room-registry: every target installs and builds first when needed.
# The two set-up commands (README): `make cluster` and `make test`.

SIM_SEEDS ?= 200
export SIM_SEEDS

.PHONY: install build proto test test-unit test-sim clean

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: node_modules/.installed

build: install
	npx tsc -p tsconfig.json

proto: install
	npx buf generate

test: build
	npx vitest run --update=none

test-unit: install
	npx vitest run --update=none test/unit

test-sim: install
	npx vitest run --update=none test/sim

clean:
	rm -rf dist
