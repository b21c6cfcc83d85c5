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
# The images are built from Debian packages with debootstrap (no registry); a fresh machine lacks it.
if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  else
    echo "debootstrap is needed to build the runner images: install it (Debian/Ubuntu: apt-get install debootstrap)" >&2
    exit 1
  fi
fi
npx tsx images/build.ts

step "server and CLI bundle (dist/)"
node scripts/build.js
