// The two shell lines both engines' supervisors (the Docker launcher, the swarm wrapper) run a command with.

/**
 * Runs "$@" with stdin from /dev/null, in a session of its own where the image has `setsid`: a command that
 * signals its own process group then reaches only itself, not the supervisor that reports its end.
 */
export const RUN_COMMAND = 'if command -v setsid >/dev/null; then setsid -w "$@" </dev/null; else "$@" </dev/null; fi';

/** Kills every process the run's user has left (the supervisor survives its own `kill -9 -1`), bounded. */
export const KILL_LEFT_PROCESSES = 'k=0; while kill -9 -1 2>/dev/null && [ $k -lt 1000 ]; do k=$((k+1)); done';

/**
 * How long a supervisor whose server is gone waits after its command before it lets go of the container (the Docker
 * launcher) or prints its frame without the server (the swarm wrapper): the server that adopts the run reads its usage
 * meanwhile (docs/decisions.md, "Runs outlive their server").
 */
export const SUPERVISOR_LINGER_SECONDS = 3600;
