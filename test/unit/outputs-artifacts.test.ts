// Artifacts from the tar of /outputs: every regular file kept as it streams (redacted when text), links not, none past the cap; a failing store is the server's failure.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import { artifactCapture } from '../../src/sandbox/artifact-capture.ts';
import type { ArtifactSink } from '../../src/sandbox/backend.ts';
import { readOutputsTar } from '../../src/sandbox/outputs.ts';

type Entry = { name: string; content?: string | Buffer; type?: 'file' | 'symlink' | 'directory' };

function tarOf(entries: Entry[]): Readable {
  const archive = pack();
  archive.entry({ name: './', type: 'directory' });
  for (const entry of entries) {
    if (entry.type === 'symlink') archive.entry({ name: entry.name, type: 'symlink', linkname: '/etc/passwd' });
    else if (entry.type === 'directory') archive.entry({ name: entry.name, type: 'directory' });
    else archive.entry({ name: entry.name }, entry.content ?? '');
  }
  archive.finalize();
  return archive;
}

/** A sink that keeps what it is given in memory, by hash. */
function memorySink(): ArtifactSink & { stored: Map<string, Buffer> } {
  const stored = new Map<string, Buffer>();
  return {
    stored,
    async store(content) {
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      stored.set(sha256, bytes);
      return { size: bytes.length, sha256 };
    },
  };
}

const sha = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');
const limits = { maxBytes: 10_000, maxEntries: 20 };

describe('artifacts from the tar of /outputs', () => {
  it('keeps every regular file at any depth, sorted by path, with size, sha256 and type; links and directories are not kept', async () => {
    const sink = memorySink();
    const result = await readOutputsTar(
      tarOf([
        { name: './table.csv', content: 'a,b\n1,2\n' },
        { name: './nested/', type: 'directory' },
        { name: './nested/dir/', type: 'directory' },
        { name: './nested/dir/report.txt', content: 'fine\n' },
        { name: './nested/link.txt', type: 'symlink' },
        { name: './result.json', content: '{"x": 1}' },
      ]),
      limits,
      artifactCapture(sink, undefined),
    );
    expect(result.ok).toBe(true);
    expect(result.outputs).toEqual({ result: { x: 1 } });
    expect(result.artifacts).toEqual([
      { path: 'nested/dir/report.txt', size: 5, sha256: sha('fine\n'), contentType: 'text/plain' },
      { path: 'result.json', size: 8, sha256: sha('{"x": 1}'), contentType: 'application/json' },
      { path: 'table.csv', size: 8, sha256: sha('a,b\n1,2\n'), contentType: 'text/csv' },
    ]);
    expect(sink.stored.get(sha('fine\n'))?.toString()).toBe('fine\n');
  });

  it('replaces a secret in text files, even split across chunks, and leaves a PNG as written', async () => {
    const sink = memorySink();
    const secret = 'hunter2-secret-value';
    const result = await readOutputsTar(
      tarOf([
        { name: './log.txt', content: `before ${secret} after\n`.repeat(3000) },
        { name: './image.png', content: Buffer.from(secret) },
      ]),
      { maxBytes: 1_000_000, maxEntries: 20 },
      artifactCapture(sink, { API_TOKEN: secret }),
    );
    const log = result.artifacts!.find((artifact) => artifact.path === 'log.txt')!;
    expect(sink.stored.get(log.sha256)!.toString()).toBe('before *** after\n'.repeat(3000));
    const png = result.artifacts!.find((artifact) => artifact.path === 'image.png')!;
    expect(sink.stored.get(png.sha256)!.toString()).toBe(secret);
  });

  it('keeps no artifacts when /outputs is past the cap', async () => {
    const result = await readOutputsTar(tarOf([{ name: './a.txt', content: 'x'.repeat(600) }, { name: './b.txt', content: 'y'.repeat(600) }]), { maxBytes: 1000, maxEntries: 20 }, artifactCapture(memorySink(), undefined));
    expect(result).toMatchObject({ ok: false, code: 'output_too_large' });
    expect(result.artifacts).toBeUndefined();
  });

  it('keeps the files of a run whose JSON output is invalid', async () => {
    const result = await readOutputsTar(tarOf([{ name: './bad.json', content: '{nope' }, { name: './notes.txt', content: 'n' }]), limits, artifactCapture(memorySink(), undefined));
    expect(result).toMatchObject({ ok: false, code: 'output_invalid' });
    expect(result.artifacts?.map((artifact) => artifact.path)).toEqual(['bad.json', 'notes.txt']);
  });

  it('a store that fails (the server disk) rejects with a SandrunError, not an outputs failure', async () => {
    const failing: ArtifactSink = {
      async store(content) {
        for await (const chunk of content) void chunk;
        throw new Error('ENOSPC: no space left on device');
      },
    };
    const read = readOutputsTar(tarOf([{ name: './a.txt', content: 'a' }]), limits, artifactCapture(failing, undefined));
    await expect(read).rejects.toBeInstanceOf(SandrunError);
    await expect(read).rejects.toThrow(/keeping \/outputs\/a.txt as an artifact: ENOSPC/);
  });
});
