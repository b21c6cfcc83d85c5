// The error of a run that cannot be adopted (its container, or its service, is gone): the run is lost, whatever the engine.
import { SandrunError } from '../errors.ts';

/** Why a run cannot be adopted: the run is lost (SPEC §13: only then does it end error). RunService maps not_found to server_restarted. */
export function containerGone(runId: string, why: string): SandrunError {
  return new SandrunError('not_found', `the server that ran run ${runId} stopped while it was running, and ${why}; the run was not retried`);
}
