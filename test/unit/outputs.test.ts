// Reading /outputs from a tar stream: NAME.json files become outputs; links, bad JSON and size are refused.
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { readOutputsTar } from '../../src/sandbox/outputs.ts';

type Entry = { name: string; content?: string; type?: 'file' | 'symlink' | 'directory'; linkname?: string };

function tarOf(entries: Entry[]): Readable {
  const archive = pack();
  archive.entry({ name: './', type: 'directory' });
  for (const entry of entries) {
    if (entry.type === 'symlink') archive.entry({ name: entry.name, type: 'symlink', linkname: entry.linkname });
    else if (entry.type === 'directory') archive.entry({ name: entry.name, type: 'directory' });
    else archive.entry({ name: entry.name }, entry.content ?? '');
  }
  archive.finalize();
  return archive;
}

const limits = { maxBytes: 1000, maxEntries: 10 };

describe('readOutputsTar', () => {
  it('parses top-level NAME.json files and ignores other and nested files', async () => {
    const result = await readOutputsTar(
      tarOf([
        { name: './revenue.json', content: '[100, 110]' },
        { name: './summary.json', content: '{"ok": true}' },
        { name: './notes.txt', content: 'free text' },
        { name: './sub/', type: 'directory' },
        { name: './sub/deep.json', content: '1' },
      ]),
      limits,
    );
    expect(result).toEqual({ ok: true, outputs: { revenue: [100, 110], summary: { ok: true } }, totalBytes: 32, sawRoot: true });
  });

  it('keeps outputs named __proto__, constructor and toString as ordinary keys, without touching any prototype', async () => {
    const result = await readOutputsTar(
      tarOf([
        { name: './__proto__.json', content: '{"polluted": true}' },
        { name: './constructor.json', content: '"c"' },
        { name: './toString.json', content: '42' },
      ]),
      limits,
    );
    expect(result.ok).toBe(true);
    const outputs = result.outputs;
    expect(Object.keys(outputs).sort(), 'output names').toEqual(['__proto__', 'constructor', 'toString']);
    expect(Object.getPrototypeOf(outputs)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(outputs, '__proto__')?.value).toEqual({ polluted: true });
    expect(Object.getOwnPropertyDescriptor(outputs, 'constructor')?.value).toBe('c');
    expect(Object.getOwnPropertyDescriptor(outputs, 'toString')?.value).toBe(42);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // What the API stores and returns: JSON that keeps every key, and parses back to the same.
    const json = JSON.stringify(outputs);
    expect(json).toBe('{"__proto__":{"polluted":true},"constructor":"c","toString":42}');
    expect(Object.keys(JSON.parse(json) as object).sort()).toEqual(['__proto__', 'constructor', 'toString']);
  });

  it('reports invalid JSON naming the file', async () => {
    const result = await readOutputsTar(tarOf([{ name: './bad.json', content: '{nope' }]), limits);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.code).toBe('output_invalid');
    expect(!result.ok && result.message).toMatch(/^\/outputs\/bad\.json is not valid JSON/);
  });

  it("does not quote the invalid file's text (it may hold part of a secret)", async () => {
    const result = await readOutputsTar(tarOf([{ name: './leak.json', content: 'token=sk-live-9f8e7d6c5b4a' }]), limits);
    expect(!result.ok && result.message).toBe('/outputs/leak.json is not valid JSON: unexpected token');
  });

  it('never follows a symbolic link', async () => {
    const result = await readOutputsTar(tarOf([{ name: './passwd.json', type: 'symlink', linkname: '/etc/passwd' }]), limits);
    expect(!result.ok && result.message).toBe('/outputs/passwd.json is a symlink, not a regular file; links are never followed');
    expect(result.outputs).toEqual({});
  });

  it('refuses more bytes than the cap', async () => {
    const result = await readOutputsTar(tarOf([{ name: './a.json', content: `"${'x'.repeat(600)}"` }, { name: './b.json', content: `"${'x'.repeat(600)}"` }]), limits);
    expect(!result.ok && result.code).toBe('output_too_large');
  });

  it('refuses more entries than allowed', async () => {
    const many = Array.from({ length: 11 }, (_, i) => ({ name: `./f${i}.txt`, content: '' }));
    const result = await readOutputsTar(tarOf(many), limits);
    expect(!result.ok && result.message).toBe('/outputs holds more than 10 entries');
  });

  it('refuses output names outside the allowed characters', async () => {
    const result = await readOutputsTar(tarOf([{ name: './bad name.json', content: '1' }]), limits);
    expect(!result.ok && result.code).toBe('output_invalid');
  });
});
