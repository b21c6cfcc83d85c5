// data_snapshot_ref (SPEC §12): one sha256 over everything a run's result depended on that sandrun can name, in one canonical encoding.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.ts';
import type { RunLimits } from '../run-limits.ts';

/**
 * The version of what a run sees inside its container (SPEC §3: mounts, environment variables, user, what the
 * sandbox enforces). Bump it in the commit that changes any of that: the same inputs under another contract are
 * another snapshot, so refs made before and after never compare equal by accident.
 */
export const CONTRACT_VERSION = 1;

/** The inputs of a run that its ref covers, as known when its container starts. */
export interface SnapshotInputs {
  commitSha: string;
  /** The engine's ID (sha256:...) of the image the run ran on: its environment's image when it has one. */
  imageId: string;
  scope: 'project' | 'model';
  modelName: string | null;
  command: string[];
  parameters: Record<string, unknown>;
  /** The destinations the run was granted (SPEC §11); only host and port count. */
  egress: { host: string; port: number }[];
  limits: RunLimits;
}

/**
 * The document the ref hashes: canonical JSON (canonical-json.ts) of this object, UTF-8, SHA-256, hex, prefixed
 * `sha256:`. docs/api.md spells it out so that a user can recompute a ref from a run's result.
 */
export function snapshotDocument(inputs: SnapshotInputs): Record<string, unknown> {
  return {
    contract_version: CONTRACT_VERSION,
    commit_sha: inputs.commitSha.toLowerCase(),
    image_id: inputs.imageId,
    scope: inputs.scope,
    model_name: inputs.modelName,
    command: inputs.command,
    parameters: inputs.parameters,
    egress: [...new Set(inputs.egress.map(({ host, port }) => `${host.toLowerCase()}:${port}`))].sort(),
    limits: {
      timeout_seconds: inputs.limits.timeoutSeconds,
      memory_mb: inputs.limits.memoryMb,
      cpus: inputs.limits.cpus,
      pids: inputs.limits.pids,
    },
  };
}

export function dataSnapshotRef(inputs: SnapshotInputs): string {
  return `sha256:${createHash('sha256').update(canonicalJson(snapshotDocument(inputs)), 'utf8').digest('hex')}`;
}
