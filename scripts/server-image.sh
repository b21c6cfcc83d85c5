#!/usr/bin/env bash
# Builds sandrun/server-base:node20 (FROM the local runner base, plus git and the host's Node 20 binary), with no registry; a no-op when current.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
log() { printf '[server-image %4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }

tag=${SANDRUN_SERVER_BASE:-sandrun/server-base:node20}
base=${SANDRUN_RUNNER_BASE:-sandrun/base:bookworm}
node_bin=$(readlink -f "$(command -v node)")
case "$("$node_bin" --version)" in
  v20.*|v22.*|v24.*) ;;
  *) echo "server-image: the host's node ($node_bin) is $("$node_bin" --version); sandrun needs Node 20 or later" >&2; exit 1 ;;
esac
if ! docker image inspect "$base" >/dev/null 2>&1; then
  log "building the runner images first (npm run images)"
  npx tsx images/build.ts
fi
recipe=$( { sha256sum deploy/server-base/Dockerfile "$node_bin" | cut -d' ' -f1; docker image inspect -f '{{.Id}}' "$base"; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "sandrun.recipe"}}' "$tag" 2>/dev/null || true)" = "$recipe" ]; then
  log "$tag is current"
  exit 0
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp deploy/server-base/Dockerfile "$context/"
cp "$node_bin" "$context/node"
log "building $tag from $base with $("$node_bin" --version) from $node_bin"
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$base" --label "sandrun.recipe=$recipe" -t "$tag" "$context" >/dev/null
log "built $tag"
