// Artifacts' bytes on disk: stored once per SHA-256, kept while a run holds them or a row names them, removed by a sweep otherwise.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ArtifactBlobs } from '../../src/artifacts/artifact-blobs.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function blobs(): { store: ArtifactBlobs; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-blobs-'));
  dirs.push(dir);
  return { store: new ArtifactBlobs(dir), dir };
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const fileOf = (dir: string, hash: string) => join(dir, hash.slice(0, 2), hash.slice(2));
const bytes = (text: string) => Readable.from([Buffer.from(text)]);

describe('ArtifactBlobs', () => {
  it('stores bytes under their SHA-256 once, however many runs store them', async () => {
    const { store, dir } = blobs();
    const first = store.forRun();
    const second = store.forRun();
    expect(await first.store(bytes('same bytes'))).toEqual({ size: 10, sha256: sha('same bytes') });
    expect(await second.store(bytes('same bytes'))).toEqual({ size: 10, sha256: sha('same bytes') });
    expect(readFileSync(fileOf(dir, sha('same bytes'))).toString()).toBe('same bytes');
    expect(readdirSync(join(dir, sha('same bytes').slice(0, 2)))).toHaveLength(1);
    expect(readdirSync(join(dir, 'incoming'))).toEqual([]);
  });

  it('a sweep spares bytes a run holds or a row names, and removes them once neither does', async () => {
    const { store, dir } = blobs();
    const run = store.forRun();
    const { sha256 } = await run.store(bytes('chart'));
    expect(await store.sweep(() => false)).toBe(0);
    expect(existsSync(fileOf(dir, sha256))).toBe(true);
    run.release();
    expect(await store.sweep((hash) => hash === sha256)).toBe(0);
    expect(await store.sweep(() => false)).toBe(1);
    expect(existsSync(fileOf(dir, sha256))).toBe(false);
    expect(await store.open(sha256)).toBeUndefined();
  });

  it('a store of bytes a sweep is removing puts its file back', async () => {
    const { store, dir } = blobs();
    const old = store.forRun();
    const { sha256 } = await old.store(bytes('table'));
    old.release();
    const again = store.forRun();
    const [removed, stored] = await Promise.all([store.sweep(() => false), again.store(bytes('table'))]);
    expect(stored.sha256).toBe(sha256);
    expect(removed).toBeLessThanOrEqual(1);
    expect(readFileSync(fileOf(dir, sha256)).toString(), 'the file a run was told is stored').toBe('table');
  });

  it('stores a large file streamed, and writes small bytes again once a sweep removed them', async () => {
    const { store, dir } = blobs();
    const large = 'x'.repeat(200 * 1024);
    const run = store.forRun();
    const chunks = Readable.from(Array.from({ length: 200 }, () => Buffer.from('x'.repeat(1024))));
    expect(await run.store(chunks)).toEqual({ size: large.length, sha256: sha(large) });
    expect(readFileSync(fileOf(dir, sha(large))).toString()).toBe(large);
    const small = await run.store(bytes('remembered'));
    run.release();
    expect(await store.sweep(() => false)).toBe(2);
    const next = store.forRun();
    await next.store(bytes('remembered'));
    expect(readFileSync(fileOf(dir, small.sha256)).toString(), 'written again, not taken for stored').toBe('remembered');
  });
});
