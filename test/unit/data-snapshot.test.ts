// data_snapshot_ref (SPEC §12): equal inputs give equal refs, and each input the ref covers changes it.
import { describe, expect, it } from 'vitest';
import { CONTRACT_VERSION, dataSnapshotRef, snapshotDocument, type SnapshotInputs } from '../../src/runs/data-snapshot.ts';
import { canonicalJson } from '../../src/canonical-json.ts';
import { createHash } from 'node:crypto';
import { outputsMatch } from '../../src/runs/outputs-match.ts';

const base: SnapshotInputs = {
  commitSha: 'a'.repeat(40),
  imageId: `sha256:${'1'.repeat(64)}`,
  scope: 'model',
  modelName: 'revenue',
  command: ['python', 'models/revenue.py'],
  parameters: { growth_rate: 0.1, years: [1, 2] },
  egress: [{ host: 'api.example.com', port: 443 }],
  limits: { timeoutSeconds: 60, memoryMb: 512, cpus: 1, pids: 128 },
};

describe('dataSnapshotRef', () => {
  it('is sha256:<64 hex> and the same for the same inputs', () => {
    expect(dataSnapshotRef(base)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(dataSnapshotRef({ ...base })).toBe(dataSnapshotRef(base));
  });

  it('is the SHA-256 of the canonical JSON of the documented document (so a user can recompute it)', () => {
    const document = snapshotDocument(base);
    expect(document).toEqual({
      contract_version: CONTRACT_VERSION,
      commit_sha: base.commitSha,
      image_id: base.imageId,
      scope: 'model',
      model_name: 'revenue',
      command: ['python', 'models/revenue.py'],
      parameters: { growth_rate: 0.1, years: [1, 2] },
      egress: ['api.example.com:443'],
      limits: { timeout_seconds: 60, memory_mb: 512, cpus: 1, pids: 128 },
    });
    expect(dataSnapshotRef(base)).toBe(`sha256:${createHash('sha256').update(canonicalJson(document)).digest('hex')}`);
  });

  it('does not depend on how the parameters or the grants were ordered', () => {
    const reordered = { ...base, parameters: { years: [1, 2], growth_rate: 0.1 }, egress: [{ host: 'b.example', port: 80 }, { host: 'a.example', port: 443 }] };
    const other = { ...base, egress: [{ host: 'a.example', port: 443 }, { host: 'b.example', port: 80 }] };
    expect(dataSnapshotRef(reordered)).toBe(dataSnapshotRef({ ...other, parameters: base.parameters }));
  });

  const changes: [string, Partial<SnapshotInputs>][] = [
    ['the commit', { commitSha: 'b'.repeat(40) }],
    ['the image ID', { imageId: `sha256:${'2'.repeat(64)}` }],
    ['the scope', { scope: 'project', modelName: null }],
    ['the model', { modelName: 'costs' }],
    ['the command', { command: ['python', 'models/revenue.py', '--fast'] }],
    ['a parameter value', { parameters: { growth_rate: 0.2, years: [1, 2] } }],
    ['a nested parameter (array order)', { parameters: { growth_rate: 0.1, years: [2, 1] } }],
    ['a parameter added', { parameters: { growth_rate: 0.1, years: [1, 2], seed: 1 } }],
    ['a granted destination', { egress: [{ host: 'api.example.com', port: 8443 }] }],
    ['no grants at all', { egress: [] }],
    ['the timeout', { limits: { ...base.limits, timeoutSeconds: 61 } }],
    ['the memory limit', { limits: { ...base.limits, memoryMb: 1024 } }],
  ];
  for (const [what, change] of changes) {
    it(`changes with ${what}`, () => {
      expect(dataSnapshotRef({ ...base, ...change }), what).not.toBe(dataSnapshotRef(base));
    });
  }

  it('changes with the container contract version (it is part of the hashed document)', () => {
    const document = snapshotDocument(base);
    const bumped = { ...document, contract_version: CONTRACT_VERSION + 1 };
    expect(canonicalJson(bumped)).not.toBe(canonicalJson(document));
  });
});

describe('outputsMatch', () => {
  const run = (outputs: Record<string, unknown>, artifacts: Array<{ path: string; sha256: string }> = []) => ({ outputs, artifacts });

  it('is true for the same outputs written with other key order', () => {
    expect(outputsMatch(run({ a: { x: 1, y: [1, 2] }, b: 2 }), run({ b: 2, a: { y: [1, 2], x: 1 } }))).toBe(true);
  });

  it('is false when one value differs, one output is missing, or an array is reordered', () => {
    expect(outputsMatch(run({ now: 1 }), run({ now: 2 }))).toBe(false);
    expect(outputsMatch(run({ a: 1, b: 2 }), run({ a: 1 }))).toBe(false);
    expect(outputsMatch(run({ a: [1, 2] }), run({ a: [2, 1] }))).toBe(false);
  });

  it('compares the other files by path and SHA-256, and top-level NAME.json files only as outputs', () => {
    const chart = { path: 'chart.png', sha256: 'a'.repeat(64) };
    // The same JSON written with other spacing is another file, but the same output.
    const spaced = [{ path: 'result.json', sha256: 'b'.repeat(64) }];
    const compact = [{ path: 'result.json', sha256: 'c'.repeat(64) }];
    expect(outputsMatch(run({ result: 1 }, [chart, ...spaced]), run({ result: 1 }, [...compact, chart]))).toBe(true);
    expect(outputsMatch(run({}, [chart]), run({}, [{ ...chart, sha256: 'd'.repeat(64) }])), 'another chart').toBe(false);
    expect(outputsMatch(run({}, [chart]), run({}, [])), 'a missing file').toBe(false);
    expect(outputsMatch(run({}, [{ path: 'nested/x.json', sha256: 'e'.repeat(64) }]), run({}, [{ path: 'nested/x.json', sha256: 'f'.repeat(64) }])), 'a nested .json is a file').toBe(false);
  });
});
