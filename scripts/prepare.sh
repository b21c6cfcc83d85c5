#!/usr/bin/env bash
# What both the quickstart and the tests need first, each step skipped when already done:
# a Docker engine, the npm dependencies, the runner images, the bundle in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

step "Docker engine"
bash scripts/engine.sh

step "npm dependencies"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.sandrun-lock; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.sandrun-lock
fi

step "runner images (about 90 s the first time, then a no-op)"
npx tsx images/build.ts

step "server and CLI bundle (dist/)"
node scripts/build.js
