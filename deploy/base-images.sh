#!/usr/bin/env bash
# Build Baton's local base images without any container registry.
#
# This machine has a Docker engine but cannot pull images, while Baton's tests
# and example flows run tasks in `debian:bookworm-slim`, `python:3.11-slim` and
# `python:slim`, and docker-compose.yaml runs `postgres:15`. We make those tags
# locally from a debootstrapped Debian 12 rootfs fetched from the same Debian
# mirror (and proxy) that the host's apt already uses, then `docker import` them.
#
# Usage: deploy/base-images.sh [--force] [--no-cache] [debian] [python] [postgres]
#   (no image names)  build every image that is missing
#   debian            only debian:bookworm-slim
#   python            only python:3.11-slim (also tagged python:slim)
#   postgres          only postgres:15 (Debian's postgresql-15 behind an entry
#                     point honouring POSTGRES_USER/PASSWORD/DB, deploy/postgres/)
#   --force           rebuild from a fresh debootstrap even if the image or a
#                     cached tarball exists (the cache is refreshed)
#   --no-cache        neither read nor write the tarball cache
#   -h, --help        show this help
#
# Environment:
#   BATON_DEBIAN_MIRROR  Debian mirror URL; default: the bookworm source found
#                        in the host's apt configuration
#   XDG_CACHE_HOME       tarballs are kept in ${XDG_CACHE_HOME:-$HOME/.cache}/baton/images
#
# Building needs root (debootstrap, chroot); skipping or importing from the
# cache only needs access to docker.
set -euo pipefail

readonly SUITE=bookworm
readonly DEBIAN_TAG=debian:bookworm-slim
readonly PYTHON_TAG=python:3.11-slim
readonly PYTHON_ALIASES=(python:slim)
readonly PYTHON_PACKAGES=(python3 python3-pip python3-venv ca-certificates)
readonly POSTGRES_TAG=postgres:15
# The imported rootfs; deploy/postgres/Dockerfile adds what `docker import` cannot
# set (STOPSIGNAL) and the entry point on top of it.
readonly POSTGRES_ROOTFS_TAG=baton/postgres-rootfs:15
readonly POSTGRES_PACKAGES=(postgresql-15)
readonly POSTGRES_CONTEXT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres"
readonly IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/baton/images"

force=0
use_cache=1
want_debian=0
want_python=0
want_postgres=0
work_dir=""
step_pgid=""

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'base-images.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
    # The header comment is the manual; print it rather than keep two copies.
    sed -n '/^# Usage:/,/^# cache only/s/^# \{0,1\}//p' "$0"
}

parse_args() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            --force) force=1 ;;
            --no-cache) use_cache=0 ;;
            debian) want_debian=1 ;;
            python) want_python=1 ;;
            postgres) want_postgres=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $arg" ;;
        esac
    done
    if (( !want_debian && !want_python && !want_postgres )); then
        want_debian=1
        want_python=1
        want_postgres=1
    fi
}

# Run a long step (debootstrap, apt-get in the chroot) in its own process
# group and wait for it in the background. A foreground child would defer our
# INT/TERM trap until it exits, and debootstrap does not stop on Ctrl-C: it
# would keep writing into the temp dir the EXIT trap is about to delete.
run_step() {
    setsid "$@" &
    step_pgid=$!
    local rc=0
    wait "$step_pgid" || rc=$?
    step_pgid=""
    return "$rc"
}

stop_step() {
    [[ -n "$step_pgid" ]] || return 0
    kill -TERM -- "-$step_pgid" 2>/dev/null || true
    # Give dpkg & co. a moment to go away before their files are deleted.
    local _
    for _ in {1..50}; do
        kill -0 -- "-$step_pgid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$step_pgid" 2>/dev/null || true
    step_pgid=""
}

cleanup() {
    stop_step
    # The rootfs trees are never bind-mounted (apt in the chroot works without
    # /proc), so a plain rm -rf cannot reach outside the temp dir.
    if [[ -n "$work_dir" && -d "$work_dir" ]]; then
        rm -rf --one-file-system "$work_dir"
    fi
}

check_docker() {
    command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed"
    local err
    if ! err=$(docker info 2>&1 >/dev/null); then
        die "docker is not reachable (is the daemon running? DOCKER_HOST=${DOCKER_HOST:-unset}): ${err##*$'\n'}"
    fi
}

check_root() {
    (( EUID == 0 )) || die "building needs root (debootstrap and chroot); try: sudo $0"
}

image_exists() {
    docker image inspect "$1" >/dev/null 2>&1
}

# Print "URI<TAB>SIGNED-BY" of the first enabled `deb` source for $SUITE in the
# host's apt configuration. Handles both the one-line format (*.list) and
# deb822 (*.sources); files apt itself ignores (e.g. *.disabled) are skipped.
find_apt_source() {
    local SOURCELIST="" SOURCEPARTS="" f
    # Ask apt where its source files are instead of assuming /etc/apt.
    eval "$(apt-config shell SOURCELIST Dir::Etc::sourcelist/f SOURCEPARTS Dir::Etc::sourceparts/d)"
    SOURCELIST=${SOURCELIST:-/etc/apt/sources.list}
    SOURCEPARTS=${SOURCEPARTS:-/etc/apt/sources.list.d/}
    local found=""
    # Same order as apt: sources.list, then the parts directory alphabetically.
    for f in "$SOURCELIST" "$SOURCEPARTS"*; do
        [[ -f "$f" ]] || continue
        if [[ "$f" == *.sources ]]; then
            found=$(awk -v suite="$SUITE" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && tolower(enabled) != "no" && uris != "") {
                        split(uris, u, " "); print u[1] "\t" signed; found = 1; exit
                    }
                    types = suites = uris = signed = field = ""; enabled = "yes"
                }
                BEGIN { enabled = "yes" }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                /^[ \t]/ { if (field == "uris") uris = uris " " $0; next }   # continuation line
                {
                    name = tolower($0); sub(/:.*/, "", name)
                    value = $0; sub(/^[^:]*:[ \t]*/, "", value)
                    field = name
                    if (name == "types") types = value
                    else if (name == "suites") suites = value
                    else if (name == "uris") uris = value
                    else if (name == "enabled") enabled = value
                    else if (name == "signed-by") signed = value
                }
                END { if (!found) flush() }
            ' "$f")
        elif [[ "$f" == "$SOURCELIST" || "$f" == *.list ]]; then
            found=$(awk -v suite="$SUITE" '
                $1 != "deb" { next }
                {
                    i = 2; signed = ""
                    if ($2 ~ /^\[/) {                      # [ option=value ... ]
                        for (; i <= NF; i++) {
                            if ($i ~ /^\[?signed-by=/) { s = $i; sub(/^\[?signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
                            if ($i ~ /\]$/) { i++; break }
                        }
                    }
                    if ($(i + 1) == suite) { print $i "\t" signed; exit }
                }
            ' "$f")
        fi
        if [[ -n "$found" ]]; then
            printf '%s\n' "$found"
            return 0
        fi
    done
}

# Resolve the mirror, keyring and proxy debootstrap and apt-in-chroot must use.
discover_mirror() {
    local line=""
    if [[ -n "${BATON_DEBIAN_MIRROR:-}" ]]; then
        MIRROR=$BATON_DEBIAN_MIRROR
        KEYRING=""
    else
        line=$(find_apt_source)
        [[ -n "$line" ]] || die "no enabled 'deb ... $SUITE' source in the host's apt configuration; set BATON_DEBIAN_MIRROR to a Debian mirror URL"
        MIRROR=${line%%$'\t'*}
        KEYRING=${line#*$'\t'}
    fi
    case "$MIRROR" in
        http://*|https://*|file:/*) ;;
        *) die "debootstrap cannot use the apt source '$MIRROR'; set BATON_DEBIAN_MIRROR to an http(s):// or file:/ mirror" ;;
    esac
    # Signed-By may also be an inline key block; only a file can be passed on.
    [[ -n "$KEYRING" && -f "$KEYRING" ]] || KEYRING=""

    # If apt reaches the mirror through a proxy, debootstrap (wget) and the
    # chroot's apt must too; they both honour the usual *_proxy variables.
    local HTTP_PROXY_CONF="" HTTPS_PROXY_CONF=""
    eval "$(apt-config shell HTTP_PROXY_CONF Acquire::http::Proxy HTTPS_PROXY_CONF Acquire::https::Proxy)"
    if [[ -n "$HTTP_PROXY_CONF" && "$HTTP_PROXY_CONF" != DIRECT ]]; then
        export http_proxy=$HTTP_PROXY_CONF
    fi
    if [[ -n "$HTTPS_PROXY_CONF" && "$HTTPS_PROXY_CONF" != DIRECT ]]; then
        export https_proxy=$HTTPS_PROXY_CONF
    fi
    note "mirror: $MIRROR${KEYRING:+ (keyring $KEYRING)}${http_proxy:+ via proxy $http_proxy}"
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    say "installing debootstrap with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null; } \
        || die "could not install debootstrap with apt-get"
}

# debootstrap writes a log we only want to see when it fails.
bootstrap_rootfs() {
    local dir=$1 log=$work_dir/debootstrap.log
    local args=(--variant=minbase)
    [[ -n "$KEYRING" ]] && args+=(--keyring="$KEYRING")
    if ! run_step debootstrap "${args[@]}" "$SUITE" "$dir" "$MIRROR" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "debootstrap failed (full log above, last 30 lines)"
    fi
}

chroot_run() {
    local dir=$1; shift
    # A clean environment: the host's PATH, locale and pip settings mean nothing there.
    run_step chroot "$dir" /usr/bin/env -i PATH="$IMAGE_PATH" DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
        ${http_proxy:+http_proxy="$http_proxy"} ${https_proxy:+https_proxy="$https_proxy"} "$@"
}

install_python() {
    local dir=$1 log=$work_dir/apt-python.log
    # debootstrap leaves the package lists in place, so no `apt-get update`.
    if ! chroot_run "$dir" apt-get install -y --no-install-recommends "${PYTHON_PACKAGES[@]}" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "apt-get install of ${PYTHON_PACKAGES[*]} in the chroot failed"
    fi
    # The official python images answer to `python`; Debian only ships python3.
    ln -sf /usr/bin/python3 "$dir/usr/local/bin/python"
    # Like the official image, let `pip install` write to the system site
    # (task scripts do `pip install requests` as root). PEP 668's marker would
    # refuse that; a container is exactly the throwaway environment it allows.
    rm -f "$dir"/usr/lib/python3*/EXTERNALLY-MANAGED
}

# Make the tree look like the official *-slim images: no apt caches or lists,
# no docs/man/locales, and dpkg told to keep it that way for later installs.
slim_rootfs() {
    local dir=$1
    mkdir -p "$dir/etc/dpkg/dpkg.cfg.d"
    cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# Keep images small, as the official debian:*-slim images do.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
    find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    rm -rf "$dir"/usr/share/{groff,info,linda,man}/* "$dir"/usr/share/lintian/overrides/*
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*
    mkdir -p "$dir/var/lib/apt/lists/partial"
    rm -f "$dir"/var/log/bootstrap.log "$dir"/var/log/{alternatives,dpkg}.log "$dir"/var/log/apt/*.log
    # Docker provides /dev, hostname and DNS at run time; debootstrap copied
    # the host's values in, which do not belong in an image.
    rm -rf "${dir:?}"/dev/*
    : >"$dir/etc/hostname"
    : >"$dir/etc/resolv.conf"
}

tar_rootfs() {
    local dir=$1 out=$2
    # Numeric owners: the image must not depend on the host's /etc/passwd.
    tar --numeric-owner -C "$dir" -cf "$out.part" .
    mv "$out.part" "$out"
}

import_tarball() {
    local tarball=$1 tag=$2 cmd=$3; shift 3
    local changes=(--change "ENV PATH=$IMAGE_PATH" --change "ENV LANG=C.UTF-8" --change "CMD $cmd")
    local old_id new_id alias
    old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
    new_id=$(docker import "${changes[@]}" --message "baton deploy/base-images.sh" "$tarball" "$tag")
    for alias in "$@"; do docker tag "$tag" "$alias"; done
    # A --force rebuild would otherwise leave the previous import behind as a
    # dangling <none> image; drop it only if nothing else still tags it.
    if [[ -n "$old_id" && "$old_id" != "$new_id" ]] \
        && [[ "$(docker image inspect --format '{{len .RepoTags}}' "$old_id" 2>/dev/null)" == 0 ]]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
}

cache_path() {
    printf '%s/%s.tar' "$CACHE_DIR" "${1//[:\/]/_}"
}

# Print the cached tarball for a tag if it may be used instead of a build.
usable_cache() {
    local tarball; tarball=$(cache_path "$1")
    if (( use_cache && !force )) && [[ -f "$tarball" ]]; then
        printf '%s\n' "$tarball"
    fi
}

# Where the tarball of a fresh build goes: the cache, or the temp dir.
output_tarball() {
    if (( use_cache )); then
        mkdir -p "$CACHE_DIR"
        cache_path "$1"
    else
        printf '%s/%s.tar' "$work_dir" "${1//[:\/]/_}"
    fi
}

# The untouched minbase tree is shared: debian copies it, python installs into
# it. One debootstrap plus apt-get install (~25 s) is measurably faster than a
# second debootstrap with --include (~2 min).
base_rootfs() {
    if [[ ! -d "$work_dir/base" ]]; then
        # Only here: a no-op run or a cache import works for any docker user.
        check_root
        say "debootstrapping a minimal $SUITE rootfs (about a minute)"
        ensure_debootstrap
        discover_mirror
        bootstrap_rootfs "$work_dir/base"
    fi
}

build_debian() {
    local start=$SECONDS out
    if (( !force )) && image_exists "$DEBIAN_TAG"; then
        say "$DEBIAN_TAG is present, skipping (--force rebuilds)"
        return 0
    fi
    out=$(usable_cache "$DEBIAN_TAG")
    if [[ -n "$out" ]]; then
        say "importing $DEBIAN_TAG from cache $out"
        import_tarball "$out" "$DEBIAN_TAG" '["bash"]'
        note "done in $((SECONDS - start)) s"
        return 0
    fi
    say "building $DEBIAN_TAG (debootstrap, about a minute)"
    base_rootfs
    cp -a "$work_dir/base" "$work_dir/debian"
    slim_rootfs "$work_dir/debian"
    out=$(output_tarball "$DEBIAN_TAG")
    tar_rootfs "$work_dir/debian" "$out"
    rm -rf --one-file-system "$work_dir/debian"
    import_tarball "$out" "$DEBIAN_TAG" '["bash"]'
    note "built $DEBIAN_TAG in $((SECONDS - start)) s"
}

build_python() {
    local start=$SECONDS out alias
    if (( !force )) && image_exists "$PYTHON_TAG"; then
        # Still make sure the aliases exist; tagging is instant and idempotent.
        for alias in "${PYTHON_ALIASES[@]}"; do docker tag "$PYTHON_TAG" "$alias"; done
        say "$PYTHON_TAG is present, skipping (--force rebuilds)"
        return 0
    fi
    out=$(usable_cache "$PYTHON_TAG")
    if [[ -n "$out" ]]; then
        say "importing $PYTHON_TAG + ${PYTHON_ALIASES[*]} from cache $out"
        import_tarball "$out" "$PYTHON_TAG" '["python3"]' "${PYTHON_ALIASES[@]}"
        note "done in $((SECONDS - start)) s"
        return 0
    fi
    say "building $PYTHON_TAG + ${PYTHON_ALIASES[*]} (apt-get install python3 into the debootstrapped rootfs, under a minute)"
    base_rootfs
    install_python "$work_dir/base"
    slim_rootfs "$work_dir/base"
    out=$(output_tarball "$PYTHON_TAG")
    tar_rootfs "$work_dir/base" "$out"
    rm -rf --one-file-system "$work_dir/base"
    import_tarball "$out" "$PYTHON_TAG" '["python3"]' "${PYTHON_ALIASES[@]}"
    note "built $PYTHON_TAG in $((SECONDS - start)) s"
}

install_postgres() {
    local dir=$1 log=$work_dir/apt-postgres.log
    # Debian's packaging would create and start a cluster on install; the image's
    # entry point creates one at first start instead, from POSTGRES_* variables.
    mkdir -p "$dir/etc/postgresql-common"
    echo 'create_main_cluster = false' >"$dir/etc/postgresql-common/createcluster.conf"
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/usr/sbin/policy-rc.d"
    if ! chroot_run "$dir" apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confold "${POSTGRES_PACKAGES[@]}" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "apt-get install of ${POSTGRES_PACKAGES[*]} in the chroot failed"
    fi
    rm -f "$dir/usr/sbin/policy-rc.d"
}

# The rootfs is cached like the others; the entry point is added by a small
# `docker build` on top, so editing it never needs a new debootstrap.
build_postgres() {
    local start=$SECONDS out
    if (( !force )) && image_exists "$POSTGRES_TAG"; then
        say "$POSTGRES_TAG is present, skipping (--force rebuilds)"
        return 0
    fi
    out=$(usable_cache "$POSTGRES_TAG")
    if [[ -n "$out" ]]; then
        say "importing the $POSTGRES_TAG rootfs from cache $out"
    else
        say "building $POSTGRES_TAG (apt-get install postgresql-15 into the debootstrapped rootfs, about a minute)"
        base_rootfs
        cp -a "$work_dir/base" "$work_dir/postgres"
        install_postgres "$work_dir/postgres"
        slim_rootfs "$work_dir/postgres"
        out=$(output_tarball "$POSTGRES_TAG")
        tar_rootfs "$work_dir/postgres" "$out"
        rm -rf --one-file-system "$work_dir/postgres"
    fi
    import_tarball "$out" "$POSTGRES_ROOTFS_TAG" '["bash"]'
    docker build --quiet --build-arg ROOTFS="$POSTGRES_ROOTFS_TAG" -t "$POSTGRES_TAG" "$POSTGRES_CONTEXT" >/dev/null
    # Only the tag goes; the layers stay under postgres:15.
    docker image rm "$POSTGRES_ROOTFS_TAG" >/dev/null
    note "built $POSTGRES_TAG in $((SECONDS - start)) s"
}

main() {
    parse_args "$@"
    check_docker
    work_dir=$(mktemp -d "${TMPDIR:-/tmp}/baton-base-images.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # debian and postgres first: python consumes the shared base tree.
    if (( want_debian )); then build_debian; fi
    if (( want_postgres )); then build_postgres; fi
    if (( want_python )); then build_python; fi
    say "images:"
    # docker trims leading blanks from --format, so indent afterwards.
    docker image ls --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' \
        | grep -E '^(debian:bookworm-slim|python:|postgres:)' | sed 's/^/    /' || true
}

main "$@"
