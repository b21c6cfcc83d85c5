#!/usr/bin/env bash
# Makes sure a Docker engine answers (installing and starting one on Debian/Ubuntu as root), with gVisor registered as runtime "runsc".
# Idempotent: when the engine already answers and runsc is registered, it does nothing.
set -euo pipefail

log() { printf '[engine %5ss] %s\n' "$SECONDS" "$*" >&2; }

engine_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
runsc_registered() { timeout 5 docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }

if engine_answers && { runsc_registered || [ "${SANDRUN_SKIP_RUNSC:-}" = 1 ]; }; then
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  echo "DOCKER_HOST=$DOCKER_HOST does not answer; sandrun will not start a local engine for a remote DOCKER_HOST." >&2
  exit 1
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'MSG'
No Docker engine answers. sandrun needs one:
  - install Docker Engine (https://docs.docker.com/engine/install/) and start it, or
  - on Debian/Ubuntu, run this script as root: it installs docker.io and runsc (gVisor).
Then check with: docker version
MSG
  exit 1
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v runsc >/dev/null 2>&1 || missing+=(runsc)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Register gVisor without clobbering an operator's daemon.json. --network=none: runsc refuses to
# start (and can leak processes) when asked to run in the root network namespace.
config=/etc/docker/daemon.json
mkdir -p /etc/docker
node - "$config" <<'JS'
const fs = require('node:fs');
const path = process.argv[2];
const current = fs.existsSync(path) ? JSON.parse(fs.readFileSync(path, 'utf8') || '{}') : {};
const runtimes = current.runtimes ?? {};
const wanted = { path: '/usr/bin/runsc', runtimeArgs: ['--network=none'] };
if (JSON.stringify(runtimes.runsc) !== JSON.stringify(wanted)) {
  current.runtimes = { ...runtimes, runsc: wanted };
  fs.writeFileSync(path, JSON.stringify(current, null, 2) + '\n');
  console.error(`[engine] registered runtime runsc in ${path}`);
}
JS

if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd is running: reloading its configuration"
  pkill -HUP -x dockerd
else
  log "starting dockerd (log: /var/log/sandrun-dockerd.log)"
  # A dockerd killed with -9 leaves its pid file behind; a new one starts over it.
  nohup dockerd >/var/log/sandrun-dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if engine_answers && runsc_registered; then
    log "engine ready: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 30 s; see /var/log/sandrun-dockerd.log" >&2
tail -20 /var/log/sandrun-dockerd.log >&2 || true
exit 1
