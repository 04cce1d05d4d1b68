#!/bin/sh
# Install Debian's PostgreSQL server for the tests (tests/pg_server.py runs it) when it is missing and we are
# root; otherwise do nothing (tests needing it skip, or fail under `make test`, saying how to install it).
set -eu

if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_postgres: PostgreSQL's server is not installed and this is not root on Debian/Ubuntu;" \
         "install the 'postgresql' package (sudo apt-get install postgresql) for the PostgreSQL tests." >&2
    exit 0
fi

echo "ensure_postgres: installing Debian's postgresql package for the tests ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/postgres >/dev/null
