// `sandrun secrets set` reads the value from stdin: never from a terminal, one trailing newline dropped, bounded.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readSecretValue } from '../../src/cli/actions/secrets.ts';

const piped = (...chunks: string[]) => Readable.from(chunks.map((chunk) => Buffer.from(chunk, 'utf8')));

describe('the value of secrets set, from stdin', () => {
  it('a terminal is refused before anything is read, with how to pipe the value instead', async () => {
    const terminal = Object.assign(piped('never read'), { isTTY: true });
    await expect(readSecretValue(terminal)).rejects.toThrow(/not from a terminal; pipe the value in/);
  });

  it('one trailing \\n or \\r\\n is dropped, nothing else', async () => {
    expect(await readSecretValue(piped('s3cr', 'et\n'))).toBe('s3cret');
    expect(await readSecretValue(piped('s3cret\r\n'))).toBe('s3cret');
    expect(await readSecretValue(piped('two lines\n\n'))).toBe('two lines\n');
    expect(await readSecretValue(piped('  spaced  '))).toBe('  spaced  ');
  });

  it('empty (or a lone newline) and more than 64 KiB are refused; no stdin at all is refused', async () => {
    await expect(readSecretValue(piped('\n'))).rejects.toThrow(/standard input is empty/);
    await expect(readSecretValue(piped())).rejects.toThrow(/standard input is empty/);
    await expect(readSecretValue(piped('x'.repeat(40_000), 'x'.repeat(40_000)))).rejects.toThrow(/longer than 65536 bytes/);
    expect(await readSecretValue(piped(`${'x'.repeat(64 * 1024)}\n`))).toHaveLength(64 * 1024);
    await expect(readSecretValue(undefined)).rejects.toThrow(/there is none/);
  });
});
