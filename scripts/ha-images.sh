#!/usr/bin/env bash
# Builds what docker-compose.ha.yml needs beside the server: sandrun/postgres:15 and sandrun/haproxy:local, from the
# runner base and Debian's packages (no registry); each a no-op when current. Also the server's own base.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
log() { printf '[ha-images %4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }

base=${SANDRUN_RUNNER_BASE:-sandrun/base:bookworm}
bash scripts/server-image.sh
build() { # tag, directory
  local tag=$1 dir=$2 recipe
  recipe=$( { cat "$dir"/* | sha256sum | cut -d' ' -f1; docker image inspect -f '{{.Id}}' "$base"; } | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{index .Config.Labels "sandrun.recipe"}}' "$tag" 2>/dev/null || true)" = "$recipe" ]; then
    log "$tag is current"
    return
  fi
  log "building $tag from $base"
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$base" --label "sandrun.recipe=$recipe" -t "$tag" "$dir" >/dev/null
  log "built $tag"
}
build sandrun/postgres:15 deploy/postgres
build sandrun/haproxy:local deploy/haproxy
