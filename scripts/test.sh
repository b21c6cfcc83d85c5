#!/usr/bin/env bash
# The test command (`npm test`): installs and starts what the tests need when absent, then runs every check.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

bash scripts/prepare.sh

step "browser and compose (console and deployment tests)"
# Debian's Chromium for the console test and docker-compose v1 for the deployment test; installed once.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "PostgreSQL (the store's tests run against both dialects)"
bash scripts/postgres.sh

step "typecheck and lint"
npx tsc -p tsconfig.json --noEmit
npx eslint .

step "tests"
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node scripts/test-summary.js "$report" || true
rm -f "$report"
exit $status
