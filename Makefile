# ProISP — the two commands a newcomer needs:
#   make test   everything CI runs (formatting, lints, the whole test suite, doc tests)
# More targets come with the binaries (make run arrives with proisp-radiusd).

CARGO ?= cargo
# cargo-nextest runs each test in its own process and in parallel; fall back to cargo test
# where it is not installed.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: test fmt-check clippy unit doc-test bench fuzz

test: fmt-check clippy unit doc-test

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --locked --no-fail-fast
else
	$(CARGO) test --workspace --locked --no-fail-fast
endif

doc-test:
	$(CARGO) test --workspace --locked --doc

# Criterion benchmarks of the codec; figures go to bench/RESULTS.md.
bench:
	$(CARGO) bench -p proisp-shared --bench radius

# Runs the codec fuzzer for FUZZ_SECONDS (needs nightly and cargo-fuzz; not part of CI,
# whose stable toolchain replays the corpus as an ordinary test instead).
FUZZ_SECONDS ?= 600
fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run decode -- -max_total_time=$(FUZZ_SECONDS)
