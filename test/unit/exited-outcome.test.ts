// How a run whose command exited is reported, from its exit code, an OOM kill, and what its /outputs held.
import { describe, expect, it } from 'vitest';
import type { OutputsReadResult } from '../../src/sandbox/outputs.ts';
import { exitedOutcome } from '../../src/sandbox/exit-outcome.ts';

const readable: OutputsReadResult = { ok: true, outputs: { a: 1 }, totalBytes: 1, sawRoot: true };
const invalid: OutputsReadResult = { ok: false, code: 'output_invalid', message: 'a.json is not JSON', outputs: {} };
const tooLarge: OutputsReadResult = { ok: false, code: 'output_too_large', message: 'over 10 MiB', outputs: {} };

describe('exitedOutcome', () => {
  it('is a plain exit when the outputs read well, whatever the exit code', () => {
    expect(exitedOutcome(0, false, readable)).toEqual({ kind: 'exited' });
    expect(exitedOutcome(3, false, readable)).toEqual({ kind: 'exited' });
  });

  it('puts an OOM kill first, even over outputs that could not be read', () => {
    expect(exitedOutcome(137, true, tooLarge)).toEqual({ kind: 'oom_killed' });
  });

  it('reports outputs over the cap whatever the exit code', () => {
    expect(exitedOutcome(0, false, tooLarge)).toEqual({ kind: 'output_too_large', message: 'over 10 MiB' });
    expect(exitedOutcome(1, false, tooLarge)).toEqual({ kind: 'output_too_large', message: 'over 10 MiB' });
  });

  it('fails a successful run on invalid outputs, and leaves a failed run’s own exit as the reason', () => {
    expect(exitedOutcome(0, false, invalid)).toEqual({ kind: 'output_invalid', message: 'a.json is not JSON' });
    expect(exitedOutcome(2, false, invalid)).toEqual({ kind: 'exited' });
  });
});
