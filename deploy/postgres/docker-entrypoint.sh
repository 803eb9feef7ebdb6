#!/usr/bin/env bash
# Entry point of the local `postgres:15` stand-in image (deploy/base-images.sh builds it from
# Debian's postgresql-15, as no registry is reachable here). It honours what the official
# image's users rely on:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default: the user's name),
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), PGDATA
#   (default /var/lib/postgresql/data), the *_FILE variants of the first three, and
#   /docker-entrypoint-initdb.d/ (*.sh, *.sql, *.sql.gz run once on a fresh data directory).
# `docker run postgres:15 postgres -c name=value` passes server options like the official one.
set -Eeuo pipefail

die() { printf 'docker-entrypoint: error: %s\n' "$*" >&2; exit 1; }

# VAR_FILE names a file holding VAR's value (Docker and Kubernetes secrets).
file_env() {
    local var=$1 default=${2:-} file_var="${1}_FILE"
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        die "both $var and $file_var are set (they are exclusive)"
    fi
    local value=$default
    if [[ -n "${!var:-}" ]]; then
        value=${!var}
    elif [[ -n "${!file_var:-}" ]]; then
        value=$(<"${!file_var}")
    fi
    export "$var"="$value"
    unset "$file_var"
}

# `docker run postgres:15 -c x=y` means `postgres -c x=y`; any other command runs as is.
if [[ $# -eq 0 || "${1:0:1}" == "-" ]]; then
    set -- postgres "$@"
fi
if [[ "$1" != "postgres" ]]; then
    exec "$@"
fi

# Root prepares the data directory, then the rest runs as the postgres user.
if [[ "$(id -u)" == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

file_env POSTGRES_USER postgres
file_env POSTGRES_PASSWORD
file_env POSTGRES_DB "$POSTGRES_USER"
auth_method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    if [[ -z "$POSTGRES_PASSWORD" && "$auth_method" != trust ]]; then
        die "the database is uninitialized and POSTGRES_PASSWORD is not set; set it (or POSTGRES_HOST_AUTH_METHOD=trust to allow connections without a password)"
    fi
    echo "docker-entrypoint: initializing $PGDATA for user $POSTGRES_USER"
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-unused}" >"$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image.
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="$auth_method" \
        ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    printf 'host all all all %s\n' "$auth_method" >>"$PGDATA/pg_hba.conf"

    # A private server on the Unix socket only, for creating the database and running init
    # scripts; clients on the network see the server only once it is fully set up.
    pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
    export PGUSER=$POSTGRES_USER PGHOST=/var/run/postgresql
    if [[ "$POSTGRES_DB" != postgres ]]; then
        psql --dbname=postgres --set=ON_ERROR_STOP=1 --quiet \
            --set=db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        [[ -e "$script" ]] || continue
        case "$script" in
            *.sh) echo "docker-entrypoint: running $script"; bash "$script" ;;
            *.sql) echo "docker-entrypoint: running $script"
                psql --dbname="$POSTGRES_DB" --set=ON_ERROR_STOP=1 --quiet --file="$script" ;;
            *.sql.gz) echo "docker-entrypoint: running $script"
                gunzip -c "$script" | psql --dbname="$POSTGRES_DB" --set=ON_ERROR_STOP=1 --quiet ;;
            *) echo "docker-entrypoint: ignoring $script" ;;
        esac
    done
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
    unset PGUSER PGHOST
    echo "docker-entrypoint: initialization done"
fi

# Listen on the network; options given on the command line come later and win.
shift
exec postgres -c listen_addresses='*' "$@"
