#!/usr/bin/env bash
# Runs every Baton test on this machine: formatting, lints, then the whole test suite.
#
# It provisions what the tests need when it is missing and says so. Today the suite needs only
# the Rust toolchain (with cargo-nextest when present); the runtime work adds Postgres and the
# local Docker images here, behind the same command.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '==> %s\n' "$*"; }

say "checking formatting (cargo fmt --check)"
cargo fmt --all -- --check

say "linting (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    # Doc tests first: CI reads the last runner's closing line, which should be the suite's.
    say "running doc tests"
    cargo test --workspace --locked --doc --quiet
    say "running the test suite (cargo nextest)"
    cargo nextest run --workspace --locked --no-fail-fast
else
    say "cargo-nextest not found; running the test suite with cargo test"
    cargo test --workspace --locked --no-fail-fast
fi
