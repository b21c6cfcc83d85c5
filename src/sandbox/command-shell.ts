// The two shell lines both engines' supervisors (the Docker launcher, the swarm wrapper) run a command with.

/**
 * Runs "$@" with stdin from /dev/null, in a session of its own where the image has `setsid`: a command that
 * signals its own process group then reaches only itself, not the supervisor that reports its end.
 */
export const RUN_COMMAND = 'if command -v setsid >/dev/null; then setsid -w "$@" </dev/null; else "$@" </dev/null; fi';

/** Kills every process the run's user has left (the supervisor survives its own `kill -9 -1`), bounded. */
export const KILL_LEFT_PROCESSES = 'k=0; while kill -9 -1 2>/dev/null && [ $k -lt 1000 ]; do k=$((k+1)); done';
