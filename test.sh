#!/usr/bin/env bash
# Runs every Baton test on this machine: formatting, lints, then the whole test suite.
#
# It provisions what the tests need when it is missing and says so: the Rust toolchain (with
# cargo-nextest when present), the Postgres server binaries, which baton-store's tests run
# as a throwaway cluster (crates/baton-store/tests/store/support/postgres.rs), and the local
# container images the Docker runner's tests use (deploy/base-images.sh),
# Chromium with chromedriver for the web UI's browser tests, a Docker Compose tool for the
# docker-compose.yaml test, and kubernetes-validate (PyPI) for the Kubernetes manifests' test.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '==> %s\n' "$*"; }

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    say "Postgres server binaries missing (no /usr/lib/postgresql/*/bin/initdb): installing postgresql"
    apt-get update
    apt-get install -y postgresql
fi

# The web UI's browser tests (tests/tests/ui/browser.rs) drive Debian's Chromium through
# chromedriver.
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    say "chromium or chromedriver missing: installing chromium and chromium-driver"
    apt-get update
    apt-get install -y chromium chromium-driver
fi

# The DuckDB tasks run the DuckDB CLI, a native binary inside PyPI's duckdb-cli wheel (no C++
# build, nothing downloaded at run time); the tests find it through the Python package.
if ! python3 -c 'import duckdb_cli' >/dev/null 2>&1; then
    say "the DuckDB CLI is missing: installing duckdb-cli from PyPI"
    python3 -m pip install --quiet 'duckdb-cli==1.5.6'
fi

# The Kubernetes manifests are checked against the API's schemas (tests/tests/kubernetes.rs).
if ! command -v kubernetes-validate >/dev/null; then
    say "kubernetes-validate missing: installing it with pip"
    python3 -m pip install --quiet kubernetes-validate
fi

# The Docker runner's tests run containers of the local images (no registry is reachable).
if docker info >/dev/null 2>&1; then
    say "building the local container images that are missing (deploy/base-images.sh)"
    deploy/base-images.sh
    # tests/tests/compose.rs runs docker-compose.yaml with `docker compose` or docker-compose.
    if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
        say "no Docker Compose tool: installing Debian's docker-compose"
        apt-get update
        apt-get install -y docker-compose
    fi
else
    say "no Docker engine reachable: the Docker runner's tests will fail"
fi

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
