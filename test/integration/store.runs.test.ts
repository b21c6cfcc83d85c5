// The run store on SQLite and PostgreSQL: gapless numbers under concurrent inserts, one run per idempotency key, end once, tenant-scoped reads, paging.
import { expect, it } from 'vitest';
import { eachDialect } from '../helpers/dialects.ts';
import { AT, completion, newRun, tenantWithProject } from '../helpers/store-fixtures.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

eachDialect((dialect) => {
  it('60 concurrent inserts from two store instances (two pools on PostgreSQL) are numbered 1..60, no gap, no repeat', async () => {
    const one = await dialect.open();
    const two = await dialect.open();
    const project = await tenantWithProject(one, 'numbers');
    const runs = await Promise.all(range(60).map((i) => (i % 2 ? one : two).runs.insert(newRun(project), AT)));
    const numbers = runs.map((run) => run.runNumber).sort((a, b) => a - b);
    expect(numbers, `the run numbers on ${dialect.kind}`).toEqual(range(60));
    const listed = await one.runs.list({ tenantId: 'numbers', limit: 100 });
    expect(listed.map((run) => run.runNumber).sort((a, b) => a - b)).toEqual(range(60));
  });

  it('concurrent submissions with one idempotency key from two instances make one run', async () => {
    const one = await dialect.open();
    const two = await dialect.open();
    const project = await tenantWithProject(one, 'once');
    const key = { tenantId: 'once', key: 'k-1', requestHash: 'h' };
    const results = await Promise.all(range(20).map((i) => (i % 2 ? one : two).runs.insertOnce(newRun(project), AT, key, '2026-01-01T00:00:00.000Z')));
    const runIds = results.map((result) => (result.existing ? result.existing.runId : result.run.id));
    expect(results.filter((result) => !result.existing).length, 'submissions that made a run').toBe(1);
    expect(new Set(runIds).size, 'the run every answer names').toBe(1);
    expect(await one.runs.countActiveForProject(project.projectId)).toBe(1);
  });

  it("another tenant's run reads as none; a run ends once, with its artifacts, and a second end changes nothing", async () => {
    const stores = await dialect.open();
    const mine = await tenantWithProject(stores, 'mine');
    await tenantWithProject(stores, 'theirs');
    const run = await stores.runs.insert(newRun(mine, { growth: 0.5 }), AT);
    expect(await stores.runs.getForTenant('theirs', run.id), "another tenant's read").toBeUndefined();
    expect((await stores.runs.getForTenant('mine', run.id))?.parameters).toEqual({ growth: 0.5 });
    expect(await stores.runs.markRunning(run.id, AT, { imageId: 'sha256:x', dataSnapshotRef: 'ref' })).toBe(true);
    expect(await stores.runs.markRunning(run.id, AT, { imageId: 'sha256:y', dataSnapshotRef: 'ref2' }), 'a second start').toBe(false);
    const artifacts = [
      { path: 'b.csv', size: 3, sha256: 'b'.repeat(64), contentType: 'text/csv' },
      { path: 'a.json', size: 2, sha256: 'c'.repeat(64), contentType: 'application/json' },
      { path: 'z/\u00e9t\u00e9.png', size: 6_000_000_000, sha256: 'd'.repeat(64), contentType: 'image/png' },
      { path: 'z/\u{1F600}.txt', size: 1, sha256: 'e'.repeat(64), contentType: 'text/plain' },
      { path: 'z/\uFF21.txt', size: 1, sha256: 'f'.repeat(64), contentType: 'text/plain' },
    ];
    expect(await stores.runs.complete(run.id, completion({ artifacts }))).toBe(true);
    expect(await stores.runs.complete(run.id, completion({ status: 'failed', exitCode: 1 })), 'a second end').toBe(false);
    const ended = (await stores.runs.get(run.id))!;
    expect(ended).toMatchObject({ status: 'success', exitCode: 0, outputs: { total: 1 }, imageId: 'sha256:x', stdoutTruncated: false, outputsMatch: null });
    expect(ended.usage.peakMemoryBytes, 'a BIGINT comes back as a number').toBe(5_000_000_000);
    expect(ended.artifacts.map((artifact) => artifact.path), 'artifacts by byte order of the path').toEqual(['a.json', 'b.csv', 'z/\u00e9t\u00e9.png', 'z/\uFF21.txt', 'z/\u{1F600}.txt']);
    expect((await stores.runs.getForTenant('mine', run.id))?.artifacts, "a poll's read of the run (its artifacts in the same query)").toEqual(ended.artifacts);
    expect(await stores.runs.artifacts.find('theirs', run.id, 'a.json'), "another tenant's artifact").toBeUndefined();
    expect(await stores.runs.artifacts.find('mine', run.id, 'a.json')).toMatchObject({ size: 2 });
    expect(await stores.runs.cpuSecondsBetween('mine', '2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z')).toBe(0.25);
    expect(await stores.usage.daily('mine', '2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z')).toEqual([
      { date: '2026-12-01', runs: 1, cpuSeconds: 0.25, peakMemoryBytes: 5_000_000_000, wallSeconds: 1.5, outputBytes: 12 },
    ]);
  });

  it("the reaper's view keeps the sandbox note of every unfinished run, its own server's included, and names only others' runs as theirs", async () => {
    const stores = await dialect.open();
    const project = await tenantWithProject(stores, 'reaped');
    const own = await stores.runs.insert({ ...newRun(project), serverId: dialect.kind === 'postgres' ? 'a' : null }, AT);
    const theirs = await stores.runs.insert({ ...newRun(project), serverId: dialect.kind === 'postgres' ? 'b' : null }, AT);
    const ended = await stores.runs.insert(newRun(project), AT);
    await stores.runs.markRunning(own.id, AT, { imageId: 'sha256:x', dataSnapshotRef: 'ref' }, 'note-of-own');
    await stores.runs.markRunning(theirs.id, AT, { imageId: 'sha256:x', dataSnapshotRef: 'ref' }, 'note-of-theirs');
    await stores.runs.markRunning(ended.id, AT, { imageId: 'sha256:x', dataSnapshotRef: 'ref' }, 'note-of-ended');
    await stores.runs.complete(ended.id, completion());
    const view = await stores.runs.unfinishedForReaper(dialect.kind === 'postgres' ? 'a' : null);
    // A run this server is taking over on a warm container is labelled with its pool slot: only its note protects it.
    expect(view.sandboxRefs.filter((ref) => ref.startsWith('note-of-')).sort()).toEqual(['note-of-own', 'note-of-theirs']);
    const named = [own.id, theirs.id, ended.id].filter((id) => view.runIds.has(id));
    expect(named, 'runs another server answers for').toEqual(dialect.kind === 'postgres' ? [theirs.id] : []);
  });

  it('lists newest first, page by page through the cursor, filtered by project and status, never across tenants', async () => {
    const stores = await dialect.open();
    const a = await tenantWithProject(stores, 'pages', 'a');
    const b = await tenantWithProject(stores, 'pages', 'b');
    const other = await tenantWithProject(stores, 'pages-other');
    for (let i = 0; i < 5; i += 1) await stores.runs.insert(newRun(i % 2 ? a : b), AT);
    await stores.runs.insert(newRun(other), AT);
    const first = await stores.runs.list({ tenantId: 'pages', limit: 3 });
    const second = await stores.runs.list({ tenantId: 'pages', limit: 3, beforeSeq: first.at(-1)!.seq });
    const seqs = [...first, ...second].map((run) => run.seq);
    expect(seqs, 'five runs, newest first').toEqual([...seqs].sort((x, y) => y - x));
    expect(seqs.length).toBe(5);
    expect((await stores.runs.list({ tenantId: 'pages', projectName: 'a', limit: 10 })).length).toBe(2);
    expect((await stores.runs.list({ tenantId: 'pages', status: 'success', limit: 10 })).length).toBe(0);
    expect((await stores.runs.unfinished()).some((run) => run.tenantId === 'pages-other')).toBe(true);
  });
});
