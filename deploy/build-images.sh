#!/usr/bin/env bash
# Build every image docker-compose.yaml runs, offline (no registry is reachable here).
#
# Usage: deploy/build-images.sh [--binary PATH] [--tag TAG]
#   --binary PATH   the `baton` binary to put in the image (default: build it with
#                   `cargo build --profile dist --bin baton` under $CARGO_TARGET_DIR or
#                   ./target; the `dist` profile is `release` with whole-program LTO)
#   --tag TAG       the image's tag (default: $BATON_IMAGE or baton:latest, what the compose
#                   file runs)
#
# It makes the base images that are missing (deploy/base-images.sh: debian:bookworm-slim,
# postgres:15, python:3.11-slim), then builds the `prebuilt` target of deploy/Dockerfile
# FROM the local debian:bookworm-slim, with a build context that holds only the binary
# (stripped of debug info, which the image does not need). The host and the image are both
# Debian 12, so the binary's glibc matches. Elsewhere, `docker compose build` (or plain
# `docker build -f deploy/Dockerfile .`) compiles Baton inside the multi-stage build instead.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() { printf 'build-images.sh: error: %s\n' "$*" >&2; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=""
tag=${BATON_IMAGE:-baton:latest}

while (( $# )); do
    case "$1" in
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        --tag) tag=${2:?--tag needs a tag}; shift 2 ;;
        -h|--help) sed -n '/^# Usage:/,/^# It makes/s/^# \{0,1\}//p' "$0" | sed '$d'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

"$repo/deploy/base-images.sh"

if [[ -z "$binary" ]]; then
    say "building the binary that ships (cargo build --profile dist --bin baton)"
    (cd "$repo" && cargo build --profile dist --locked --bin baton)
    binary="${CARGO_TARGET_DIR:-$repo/target}/dist/baton"
fi
[[ -x "$binary" ]] || die "$binary is not an executable file"

context=$(mktemp -d "${TMPDIR:-/tmp}/baton-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
# Debug info makes a debug build about 130 MB; the image keeps the symbols only.
if command -v strip >/dev/null; then
    strip --strip-debug -o "$context/baton" "$binary"
else
    cp "$binary" "$context/baton"
fi
say "building $tag from $binary"
# The classic builder prints a deprecation notice on stderr every time; keep stderr for errors.
docker build --quiet -f "$repo/deploy/Dockerfile" --target prebuilt -t "$tag" "$context" >/dev/null
docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$tag"
