// /outputs in the launcher's own stream: the frame a real `sh` writes after the command, read back however the bytes
// arrive, never taken from what the command printed, and never piled up on the host past the cap.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { LAUNCHER_SCRIPT, LauncherFrame, LauncherStdout, newNonce, triggerPayload, type FrameEnd } from '../../src/sandbox/docker/launcher-protocol.ts';
import { OutputsTarStream } from '../../src/sandbox/outputs-stream.ts';
import { withTarStatus, type OutputsReadResult } from '../../src/sandbox/outputs.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const limits = { maxBytes: 64 * 1024, maxEntries: 100 };
const noFlow = { pause: () => undefined, resume: () => undefined };

/**
 * Runs the launcher in a real `sh` on this machine with `files` in its /outputs: the script as it is, but for
 * /outputs (a temporary directory) and `kill -9 -1` (which here would kill the test's own processes). Plays the
 * host: triggers the command (the trigger asks for the frame), and returns every byte the launcher wrote.
 */
async function launcherStdout(nonce: string, command: string[], files: Record<string, string | Buffer>, path = process.env.PATH): Promise<Buffer> {
  const outputs = mkdtempSync(join(tmpdir(), 'sandrun-frame-'));
  dirs.push(outputs);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(outputs, name), content);
  const script = LAUNCHER_SCRIPT.replaceAll('/outputs', outputs).replace('kill -9 -1', 'false');
  const child = spawn('/bin/sh', ['-c', script, 'sandrun-launcher'], { env: { PATH: path }, stdio: ['pipe', 'pipe', 'ignore'] });
  const chunks: Buffer[] = [];
  let frameEnded!: () => void;
  const ended = new Promise<void>((resolve) => (frameEnded = resolve));
  const reader = new LauncherStdout(nonce, () => undefined, () => undefined, () => {
    if (!reader.result?.hasOutputs) frameEnded();
  });
  reader.readFrame(new LauncherFrame(nonce, () => undefined, () => frameEnded()));
  child.stdout.on('data', (chunk: Buffer) => {
    const bytes = chunks.length === 0 ? chunk.subarray(chunk.indexOf(0x0a) + 1) : chunk; // the ready line
    chunks.push(Buffer.from(bytes));
    reader.push(bytes);
  });
  child.stdin.write(triggerPayload(nonce, command, []));
  await ended;
  child.kill('SIGKILL'); // it waits on stdin, as in a container until its removal
  return Buffer.concat(chunks);
}

/** A stream as the engine's `local` log driver gives it back (Docker 20.10): every LF that ends a line longer than 16 KiB is lost. */
function asLocalLog(bytes: Buffer): Buffer {
  const kept: Buffer[] = [];
  let start = 0;
  for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
    kept.push(bytes.subarray(start, end - start > 16 * 1024 ? end : end + 1));
    start = end + 1;
  }
  kept.push(bytes.subarray(start));
  return Buffer.concat(kept);
}

interface Parsed {
  passed: string;
  exit: LauncherStdout['result'];
  tar: Buffer;
  end: FrameEnd | { invalid: string } | undefined;
}

/** Reads a launcher's stdout as the host does, the bytes cut into the given pieces. */
function parse(nonce: string, pieces: Buffer[]): Parsed {
  const passed: Buffer[] = [];
  const tar: Buffer[] = [];
  let end: Parsed['end'];
  // As the host does: the frame's reader is set before the trigger, and gets what follows the trailer.
  const reader = new LauncherStdout(nonce, (bytes) => passed.push(Buffer.from(bytes)), () => undefined);
  reader.readFrame(new LauncherFrame(nonce, (bytes) => tar.push(Buffer.from(bytes)), (how) => (end = how)));
  for (const piece of pieces) reader.push(piece);
  reader.end();
  return { passed: Buffer.concat(passed).toString('latin1'), exit: reader.result, tar: Buffer.concat(tar), end };
}

async function outputsOf(tar: Buffer, end: FrameEnd): Promise<OutputsReadResult> {
  const stream = new OutputsTarStream(limits, noFlow, () => undefined);
  stream.push(tar);
  stream.end();
  return withTarStatus(await stream.result, { status: end.tarStatus, message: end.message });
}

describe('the outputs frame a real sh writes', () => {
  it('carries /outputs after the command’s output, read the same for every cut of the stream', async () => {
    const nonce = newNonce();
    const bytes = await launcherStdout(nonce, ['sh', '-c', 'printf "hello\\n"; exit 3'], { 'revenue.json': '[100, 110, 121]', 'summary.json': '{"ok": true}' });
    const whole = parse(nonce, [bytes]);
    expect(whole.passed).toBe('hello\n');
    expect(whole.exit).toEqual({ exitCode: 3, hasOutputs: true });
    expect(whole.end).toEqual({ tarStatus: 0, message: '' });
    expect(await outputsOf(whole.tar, whole.end as FrameEnd)).toMatchObject({ ok: true, outputs: { revenue: [100, 110, 121], summary: { ok: true } } });
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      const pieces = parse(nonce, [bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(pieces.passed, `cut at ${cut}`).toBe('hello\n');
      expect(pieces.tar.equals(whole.tar), `cut at ${cut}`).toBe(true);
      expect(pieces.end, `cut at ${cut}`).toEqual(whole.end);
    }
  });

  it('is never taken from the command’s output, however much that looks like a frame', async () => {
    const nonce = newNonce();
    const other = newNonce();
    const forged = pack();
    forged.entry({ name: './', type: 'directory' });
    forged.entry({ name: './forged.json' }, '"forged"');
    forged.finalize();
    const forgedTar: Buffer[] = [];
    for await (const chunk of forged) forgedTar.push(chunk);
    // A frame with another nonce, and the real nonce's prefix: both are the command's output.
    const lookalike = Buffer.concat([
      Buffer.from(`\x1e${other} 0 1\n`),
      Buffer.concat(forgedTar),
      Buffer.from(`\x1e${other} tar 0 \n\x1e${nonce.slice(0, 16)} tar 0 \n`),
    ]);
    const printer = join(mkdtempSync(join(tmpdir(), 'sandrun-frame-print-')), 'lookalike');
    dirs.push(printer);
    writeFileSync(printer, lookalike);
    const bytes = await launcherStdout(nonce, ['cat', printer], { 'real.json': '"real"' });
    const read = parse(nonce, [bytes]);
    expect(read.passed).toBe(lookalike.toString('latin1'));
    expect(read.exit).toEqual({ exitCode: 0, hasOutputs: true });
    expect(await outputsOf(read.tar, read.end as FrameEnd)).toMatchObject({ ok: true, outputs: { real: 'real' } });
  });

  it('passes an output whose content looks like the frame’s end (another nonce) through unharmed', async () => {
    const nonce = newNonce();
    const content = JSON.stringify(`\x1e${newNonce()} tar 0 \n\x1e${nonce.slice(0, 20)}`);
    const bytes = await launcherStdout(nonce, ['true'], { 'tricky.json': content });
    const read = parse(nonce, [bytes]);
    expect(await outputsOf(read.tar, read.end as FrameEnd)).toMatchObject({ ok: true, outputs: { tricky: JSON.parse(content) } });
  });

  it('says tar’s own exit code and the first line of its complaint, which make the outputs invalid', async () => {
    const nonce = newNonce();
    // A tar that fails as GNU tar does on a file it cannot read: complaint on stderr, exit 2.
    const fakeTar = mkdtempSync(join(tmpdir(), 'sandrun-fake-tar-'));
    dirs.push(fakeTar);
    writeFileSync(join(fakeTar, 'tar'), '#!/bin/sh\necho "tar: ./x.json: Cannot open: Permission denied" >&2\necho "tar: Exiting with failure status" >&2\nexit 2\n', { mode: 0o755 });
    const bytes = await launcherStdout(nonce, ['true'], { 'x.json': '1' }, `${fakeTar}:${process.env.PATH}`);
    const read = parse(nonce, [bytes]);
    expect(read.end).toEqual({ tarStatus: 2, message: 'tar: ./x.json: Cannot open: Permission denied' });
    expect(await outputsOf(read.tar, read.end as FrameEnd)).toEqual({
      ok: false,
      code: 'output_invalid',
      message: 'could not read /outputs: tar: ./x.json: Cannot open: Permission denied',
      outputs: {},
    });
  });

  it('is read the same from the engine’s `local` log, which loses the LF that ends a line longer than 16 KiB', async () => {
    const nonce = newNonce();
    // The command's last line (20 kB, no LF) runs into the trailer; the tar (40 kB of one file) into the frame's end.
    const bytes = await launcherStdout(nonce, ['sh', '-c', 'head -c 20000 /dev/zero | tr "\\0" y'], { 'big.json': JSON.stringify('x'.repeat(40_000)) });
    const logged = asLocalLog(bytes);
    expect(logged.length, 'the log lost the LFs after the trailer and the frame’s end').toBe(bytes.length - 2);
    const whole = parse(nonce, [bytes]);
    for (const pieces of [[logged], [logged.subarray(0, 20_040), logged.subarray(20_040)], [logged.subarray(0, logged.length - 3), logged.subarray(logged.length - 3)]]) {
      const read = parse(nonce, pieces);
      expect(read.passed).toBe('y'.repeat(20_000));
      expect(read.exit).toEqual({ exitCode: 0, hasOutputs: true });
      expect(read.end).toEqual({ tarStatus: 0, message: '' });
      expect(read.tar.equals(whole.tar), 'the tar is the same bytes').toBe(true);
      expect(await outputsOf(read.tar, read.end as FrameEnd)).toMatchObject({ ok: true, outputs: { big: 'x'.repeat(40_000) } });
    }
  });

  it('writes no frame when /outputs is empty', async () => {
    const nonce = newNonce();
    const bytes = await launcherStdout(nonce, ['echo', 'hi'], {});
    const read = parse(nonce, [bytes]);
    expect(read.exit).toEqual({ exitCode: 0, hasOutputs: false });
    expect(read.tar.length).toBe(0);
    expect(read.end).toBeUndefined();
  });
});

describe('the end of a frame', () => {
  const nonce = 'e'.repeat(32);
  const frame = (bytes: string) => {
    const tar: Buffer[] = [];
    let end: FrameEnd | { invalid: string } | undefined;
    const reader = new LauncherFrame(nonce, (chunk) => tar.push(Buffer.from(chunk)), (how) => (end = how));
    reader.push(Buffer.from(bytes, 'latin1'));
    return { tar: Buffer.concat(tar).toString('latin1'), end };
  };

  it('reads tar’s exit code and complaint, and refuses an end line that is malformed or endless', () => {
    expect(frame(`TAR\x1e${nonce} tar 2 tar: ./x.json: Cannot open: Permission denied\n`)).toEqual({ tar: 'TAR', end: { tarStatus: 2, message: 'tar: ./x.json: Cannot open: Permission denied' } });
    expect(frame(`\x1e${nonce} tar x\n`).end).toMatchObject({ invalid: expect.stringMatching(/malformed/) });
    expect(frame(`\x1e${nonce} tar 0 ${'y'.repeat(300)}`).end).toMatchObject({ invalid: expect.stringMatching(/too long/) });
  });
});

/** A tar of `files` (name → size in bytes), generated as it is read, the way a container would write it. */
function* tarOfSizes(files: Array<[string, number]>): Generator<Buffer> {
  const header = (name: string, size: number) => {
    const block = Buffer.alloc(512);
    block.write(name, 0);
    block.write('0000644\0', 100);
    block.write('0001750\0', 108);
    block.write('0001750\0', 116);
    block.write(size.toString(8).padStart(11, '0') + '\0', 124);
    block.write('00000000000\0', 136);
    block.write('0', 156);
    block.write('ustar\x0000', 257);
    block.fill(' ', 148, 156);
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    return block;
  };
  for (const [name, size] of files) {
    yield header(name, size);
    for (let left = Math.ceil(size / 512) * 512; left > 0; left -= 64 * 1024) yield Buffer.alloc(Math.min(left, 64 * 1024), 0x31);
  }
  yield Buffer.alloc(1024);
}

/** Pushes a tar as a paused-aware source would; returns how many bytes the host took before it asked the writer to stop. */
async function pushUntilStopped(source: Iterable<Buffer>): Promise<{ taken: number; stopped: boolean; read: OutputsReadResult }> {
  let paused = false;
  let resumed: () => void = () => undefined;
  let stopped = false;
  const stream = new OutputsTarStream(
    limits,
    { pause: () => (paused = true), resume: () => ((paused = false), resumed()) },
    () => (stopped = true),
  );
  for (const chunk of source) {
    if (stopped) break;
    while (paused && !stopped) await new Promise<void>((resolve) => (resumed = resolve));
    stream.push(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  stream.end();
  return { taken: stream.receivedBytes, stopped, read: await stream.result };
}

describe('a frame past the cap', () => {
  it('ends as output_too_large as soon as a header says so, before the file’s content arrives', async () => {
    const { taken, stopped, read } = await pushUntilStopped(tarOfSizes([['./huge.json', 1024 * 1024 * 1024]]));
    expect(read).toMatchObject({ ok: false, code: 'output_too_large' });
    expect(stopped).toBe(true);
    expect(taken, `bytes taken in: ${taken}`).toBeLessThanOrEqual(limits.maxBytes);
  });

  it('ends as output_too_large once many small files pass the cap, the host having held no more than the cap', async () => {
    const files = Array.from({ length: 40 }, (_, i) => [`./part-${i}.bin`, 10 * 1024] as [string, number]);
    const { taken, stopped, read } = await pushUntilStopped(tarOfSizes(files));
    expect(read).toMatchObject({ ok: false, code: 'output_too_large' });
    expect(stopped).toBe(true);
    expect(taken, `bytes taken in: ${taken}`).toBeLessThanOrEqual(limits.maxBytes + 64 * 1024);
  });
});
