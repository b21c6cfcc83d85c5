// Whether a replay gave what its original gave (SPEC §12 outputs_match): one comparison, over what both runs' results show.
import { canonicalJson } from '../canonical-json.ts';
import type { RunResultView } from './run-view.ts';

/** What of a run's result the comparison reads: its outputs (and, where the result lists them, its artifacts' hashes). */
export type ComparableRun = Pick<RunResultView, 'outputs'>;

/**
 * True when the two runs' outputs are the same JSON (canonical-json.ts: key order and spacing do not count). Where the
 * result lists artifacts (path, sha256), their sets must be equal too: add that comparison here, and only here.
 * Status and logs do not count: a replay is compared on what it produced.
 */
export function outputsMatch(original: ComparableRun, replay: ComparableRun): boolean {
  return canonicalJson(original.outputs) === canonicalJson(replay.outputs);
}
