#!/usr/bin/env bash
# Makes sure a local PostgreSQL 15 answers on 127.0.0.1:5432 with a role the tests may create databases with
# (installing Debian's postgresql-15 and starting its cluster as root when absent). Idempotent.
# Prints nothing on success; the tests' admin URL is postgres://sandrun_test:sandrun_test@127.0.0.1:5432/postgres.
set -euo pipefail

log() { printf '[postgres %4ss] %s\n' "$SECONDS" "$*" >&2; }
ROLE=sandrun_test
answers() { [ "$(PGPASSWORD=$ROLE timeout 5 psql -h 127.0.0.1 -U $ROLE -d postgres -Atc "SELECT pg_has_role('pg_signal_backend', 'member')" 2>/dev/null)" = t ]; }

answers && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "No PostgreSQL answers on 127.0.0.1:5432 as $ROLE. Install PostgreSQL 15, then as its superuser:" >&2
  echo "  CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE';" >&2
  exit 1
fi

if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
  log "installing postgresql-15 from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
if ! pg_lsclusters -h 2>/dev/null | grep -q '^15 main'; then
  log "creating cluster 15/main"
  pg_createcluster 15 main >/dev/null
fi
if ! pg_lsclusters -h | grep -q '^15 main .* online'; then
  log "starting cluster 15/main"
  pg_ctlcluster 15 main start
fi
for _ in $(seq 1 60); do
  runuser -u postgres -- psql -Atc 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.5
done
# pg_signal_backend: a test database is dropped WITH (FORCE), which must end every session in it, autovacuum's included.
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE';
  END IF;
END \$\$;
GRANT pg_signal_backend TO $ROLE;
SQL
answers || { echo "PostgreSQL started but $ROLE cannot log in on 127.0.0.1:5432" >&2; exit 1; }
log "PostgreSQL 15 ready on 127.0.0.1:5432"
