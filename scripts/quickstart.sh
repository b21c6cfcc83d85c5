#!/usr/bin/env bash
# The README's first command: installs what is missing, starts sandrun with a demo project, and shows runs.
# Leaves the server running in the background (its pid and log are printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m== %s\033[0m (%ss)\n' "$*" "$SECONDS"; }

export SANDRUN_DATA_DIR=${SANDRUN_DATA_DIR:-$PWD/data}
export SANDRUN_PORT=${SANDRUN_PORT:-8080}
export SANDRUN_HOST=${SANDRUN_HOST:-127.0.0.1}
export SANDRUN_ALLOW_LOCAL_REPOS=1
export SANDRUN_URL="http://$SANDRUN_HOST:$SANDRUN_PORT"

bash scripts/prepare.sh

step "demo project: a git repository with two Python models"
demo="$SANDRUN_DATA_DIR/demo-repo"
if [ ! -d "$demo/.git" ]; then
  mkdir -p "$demo"
  cp -R examples/demo/. "$demo/"
  git -C "$demo" init -q -b main
  git -C "$demo" add -A
  git -C "$demo" -c user.name=sandrun -c user.email=demo@sandrun.invalid commit -q -m "demo project"
fi
echo "$demo"

step "an API token for tenant 'demo'"
token_file="$SANDRUN_DATA_DIR/demo-token"
if [ ! -s "$token_file" ]; then
  node bin/sandrun.js tokens create --tenant demo --scopes runs:read,runs:write,projects:read,projects:write --name quickstart | tail -n 1 >"$token_file"
fi
export SANDRUN_TOKEN=$(cat "$token_file")
echo "export SANDRUN_TOKEN=$SANDRUN_TOKEN"

step "start the server on $SANDRUN_URL"
if curl -fsS "$SANDRUN_URL/readyz" >/dev/null 2>&1; then
  echo "already running"
else
  nohup node bin/sandrun.js serve >"$SANDRUN_DATA_DIR/server.log" 2>&1 &
  echo $! >"$SANDRUN_DATA_DIR/server.pid"
  for _ in $(seq 1 100); do curl -fsS "$SANDRUN_URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "$SANDRUN_URL/readyz"; echo
fi

step "register the demo project"
node bin/sandrun.js projects add demo "$demo" 2>/dev/null || node bin/sandrun.js projects refresh demo
node bin/sandrun.js projects show demo

step "a sync run with curl: model 'revenue' with parameters"
( set -x; curl -sS -X POST "$SANDRUN_URL/v1/runs" -H "Authorization: Bearer $SANDRUN_TOKEN" -H 'content-type: application/json' \
  -d '{"scope": "model", "mode": "sync", "project_name": "demo", "model_name": "revenue", "parameters": {"growth_rate": 0.08}}' )
echo

step "an async run of the whole project with the CLI, then its logs"
run_id=$(node bin/sandrun.js run demo --async --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).run_id))')
node bin/sandrun.js runs logs "$run_id" --follow
node bin/sandrun.js runs get "$run_id"

cat <<MSG

sandrun is running at $SANDRUN_URL (pid $(cat "$SANDRUN_DATA_DIR/server.pid" 2>/dev/null || echo '?'), log $SANDRUN_DATA_DIR/server.log).
Try:  export SANDRUN_TOKEN=$SANDRUN_TOKEN
      npx sandrun run demo revenue --param growth_rate=0.5
Stop: kill \$(cat $SANDRUN_DATA_DIR/server.pid)
MSG
