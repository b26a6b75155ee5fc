# ProISP — the two commands a newcomer needs:
#   make run    the whole stack on this machine (private PostgreSQL and Redis under ./var,
#               demo data, proisp-radiusd and the admin API with its web console in the
#               foreground); see scripts/stack.sh
#   make test   everything CI runs (formatting, lints, the whole test suite, doc tests)

CARGO ?= cargo
# cargo-nextest runs each test in its own process and in parallel; fall back to cargo test
# where it is not installed.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: run test deps console fmt-check clippy unit doc-test deny api-check bench fuzz

run: console
	scripts/stack.sh

# `console` comes before the Rust builds: proisp-adminapi embeds what it built, and the
# unit tests include the console's browser test.
test: deps console fmt-check clippy unit doc-test deny api-check monitoring-check \
	monitoring-test stack-stop-check faults-short topology-short dr-drill-short

# PostgreSQL, Redis, FreeRADIUS and HAProxy from Debian where missing; the tests start
# private PostgreSQL and Redis instances themselves when none answers on the standard ports.
deps:
	scripts/deps.sh

# The web console (adminapi/console: TypeScript, built with Vite) into
# adminapi/console/dist, which proisp-adminapi embeds at build time. npm ci installs the
# committed package-lock.json, again only when that changed.
CONSOLE := adminapi/console
$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund
console: $(CONSOLE)/node_modules/.package-lock.json
	cd $(CONSOLE) && npm run build

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

unit:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --all-features --locked --no-fail-fast
else
	$(CARGO) test --workspace --all-features --locked --no-fail-fast
endif

doc-test:
	$(CARGO) test --workspace --all-features --locked --doc

# Dependency policy (deny.toml): bans, licenses, sources. Not advisories: the RustSec
# database lives on GitHub, which CI cannot reach (deny.toml says more).
deny:
	$(CARGO) deny --locked check bans licenses sources

# The admin API against its served OpenAPI document: openapi-spec-validator, then
# schemathesis with every check and MAX_EXAMPLES (50) examples per operation, on an
# adminapi of its own (scripts/api-check.sh).
MAX_EXAMPLES ?= 50
api-check:
	MAX_EXAMPLES=$(MAX_EXAMPLES) scripts/api-check.sh

# make run's Ctrl-C stops everything it started, whenever it comes (under 30 s):
# scripts/stack-stop-check.sh.
.PHONY: stack-stop-check
stack-stop-check:
	scripts/stack-stop-check.sh

# Criterion benchmarks of the codec; figures go to bench/RESULTS.md.
bench:
	$(CARGO) bench -p proisp-radius --bench radius

# Runs the codec fuzzer for FUZZ_SECONDS (needs nightly and cargo-fuzz; not part of CI,
# whose stable toolchain replays the corpus as an ordinary test instead).
FUZZ_SECONDS ?= 600
fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run decode -- -max_total_time=$(FUZZ_SECONDS)

# The fault suite (scripts/faults.sh, bench/RELIABILITY.md): the real stack under
# proisp-loadtest load, each fault of DESIGN.md's table injected in turn, and what radiusd
# answered and acknowledged checked against PostgreSQL. `faults` holds each fault longer
# (under 10 minutes in all); `faults-short` (under 3 minutes) is part of `make test`.
# `soak` runs SOAK_SECONDS of mixed load, sampling radiusd's and adminapi's RSS and open
# descriptors into var/faults/soak.csv.
.PHONY: faults faults-short soak
SOAK_SECONDS ?= 600
faults:
	scripts/faults.sh
faults-short:
	scripts/faults.sh --short
soak:
	SOAK_SECONDS=$(SOAK_SECONDS) scripts/faults.sh --soak

# The high-availability topology on one machine (scripts/topology.sh, under ./var/topology
# on free loopback ports): PostgreSQL primary + synchronous streaming replica, a Redis
# Cluster of 3 masters and 3 replicas, two radiusd, two adminapi, HAProxy (the API over
# HTTP, RadSec over TCP); it prints what runs where and stays until Ctrl-C.
# `topology-test` kills each piece under load and measures the recovery (figures in
# bench/TOPOLOGY.md); `topology-short` is its CI form (under 3 minutes, on the debug build
# the tests made), part of `make test`.
.PHONY: topology topology-test topology-short
topology:
	scripts/topology.sh
topology-test:
	scripts/topology-test.sh
topology-short:
	PROFILE=debug scripts/topology-test.sh --short

# The disaster-recovery drill (scripts/dr-drill.sh, bench/DR.md): a private PostgreSQL
# archiving into a pgBackRest repository with the shipped pgbackrest/ files, a full backup,
# the primary destroyed under proisp-loadtest accounting load and restored; prints the
# backup and restore times, the RTO and the acknowledged records missing (the RPO).
# `dr-drill` (release build, the shipped archive_timeout) loses the primary past one
# archive_timeout, about 3 minutes once built; `dr-drill-short` (debug build, as the
# tests) about 1 minute, part of `make test`.
.PHONY: dr-drill dr-drill-short
dr-drill:
	PROFILE=release scripts/dr-drill.sh
dr-drill-short:
	scripts/dr-drill.sh --short

# monitoring/ without a running stack (scripts/monitoring-check.sh, seconds): promtool
# check config/rules, the alert rules' unit tests (monitoring/tests/), the dashboard's
# expressions, the textfile metrics script, the timers' units, tuning/. Part of
# `make test`.
.PHONY: monitoring-check
monitoring-check:
	scripts/monitoring-check.sh

# The monitoring files against a running stack (scripts/monitoring-test.sh): `MONITORING=1
# scripts/stack.sh` on free ports with the tests' debug build, logins and API calls, then
# the roadmap's four queries must return series, every metric the rules and dashboard
# name must exist, the maintenance SQL must run, and no secret may be in the logs.
# About 30 s once built; part of `make test`.
.PHONY: monitoring-test
monitoring-test:
	scripts/monitoring-test.sh

# The Debian package (scripts/deb.sh): release build, target/deb/proisp_<ver>_<arch>.deb.
# `deb-test` builds one from the debug build the tests made, installs it on this machine
# with dpkg -i (root), checks its files, --check-config and its units, and removes it
# (scripts/deb-test.sh); .ci/run runs it after `make test`.
.PHONY: deb deb-test
deb:
	scripts/deb.sh
deb-test:
	scripts/deb-test.sh
