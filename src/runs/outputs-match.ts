// Whether a replay gave what its original gave (SPEC §12 outputs_match): one comparison, over what both runs' results show.
import { canonicalJson } from '../canonical-json.ts';

/** What of a run's result the comparison reads: its outputs, and its artifacts' paths and hashes. */
export interface ComparableRun {
  outputs: Record<string, unknown>;
  artifacts: ReadonlyArray<{ path: string; sha256: string }>;
}

/** A top-level NAME.json is an output (compared as JSON, so key order and spacing do not count), not a file to hash. */
const isOutputFile = (path: string) => !path.includes('/') && path.endsWith('.json');

const fileSet = (run: ComparableRun) =>
  canonicalJson(Object.fromEntries(run.artifacts.filter((artifact) => !isOutputFile(artifact.path)).map((artifact) => [artifact.path, artifact.sha256])));

/**
 * True when the two runs' outputs are the same JSON (canonical-json.ts) and they left the same other files (same paths,
 * same SHA-256). Status and logs do not count: a replay is compared on what it produced.
 */
export function outputsMatch(original: ComparableRun, replay: ComparableRun): boolean {
  return canonicalJson(original.outputs) === canonicalJson(replay.outputs) && fileSet(original) === fileSet(replay);
}
