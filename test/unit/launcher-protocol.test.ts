// The host's side of the launcher protocol: the trigger a shell reads back exactly, and the markers found however the bytes arrive.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LAUNCHER_SCRIPT, LauncherStdout, MarkerSplitter, newNonce, parseReadyLine, triggerPayload } from '../../src/sandbox/docker/launcher-protocol.ts';

/** Every way of cutting `bytes` into three pieces (the second cut in steps of `step`). */
function cuts(bytes: Buffer, step = 1): Buffer[][] {
  const ways: Buffer[][] = [];
  for (let a = 0; a <= bytes.length; a++) {
    for (let b = a; b <= bytes.length; b += step) ways.push([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
  }
  return ways;
}

/** Reads a trigger the way the launcher does (without running its command) and prints what the command would get. */
function readBack(payload: string): { argv: string[]; env: Record<string, string> } {
  const reader = [
    'IFS= read -r nonce',
    'script=',
    'while IFS= read -r line; do [ "$line" = "$nonce" ] && break; script="$script$line\n"; done',
    'eval "$script"',
    'printf "%s\\0" "$@"; printf "\\1"; env -0',
  ].join('\n');
  const out = execFileSync('sh', ['-c', reader, 'reader'], { input: payload, env: { PATH: process.env.PATH } });
  const [argv = '', env = ''] = out.toString('utf8').split('\x01');
  return {
    argv: argv.split('\0').slice(0, -1),
    env: Object.fromEntries(env.split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)])),
  };
}

describe('the trigger', () => {
  it('reaches the shell as exactly the command words and environment given, whatever they contain', () => {
    const hostile = ["it's", 'a "quoted" $HOME `id` $(id) \\ back\\slash', 'two\nlines', '', ' lead and trail ', '*', '-n', "'"];
    const nonce = newNonce();
    const { argv, env } = readBack(triggerPayload(nonce, ['python3', ...hostile], ['SANDRUN_MODEL=a\nb', "QUOTE=it's $(id)", 'EMPTY=']));
    expect(argv).toEqual(['python3', ...hostile]);
    expect(env.SANDRUN_MODEL).toBe('a\nb');
    expect(env.QUOTE).toBe("it's $(id)");
    expect(env.EMPTY).toBe('');
  });

  it('refuses what a shell could not carry: an empty command, a NUL byte, a bad variable name', () => {
    expect(() => triggerPayload(newNonce(), [], [])).toThrow(/empty/);
    expect(() => triggerPayload(newNonce(), ['a\0b'], [])).toThrow(/NUL/);
    expect(() => triggerPayload(newNonce(), ['true'], ['1BAD=x'])).toThrow(/not a valid environment variable name/);
    expect(() => triggerPayload(newNonce(), ['true'], ['A B=x'])).toThrow(/not a valid environment variable name/);
  });

  it('gets a fresh 128-bit nonce each time', () => {
    const nonces = new Set(Array.from({ length: 100 }, newNonce));
    expect(nonces.size).toBe(100);
    for (const nonce of nonces) expect(nonce).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('finding a marker in a stream', () => {
  const marker = Buffer.from('\x1eabc123\n');

  function split(chunks: Buffer[]) {
    const passed: Buffer[] = [];
    const splitter = new MarkerSplitter(marker, (bytes) => passed.push(Buffer.from(bytes)));
    for (const chunk of chunks) splitter.push(chunk);
    return { passed: Buffer.concat(passed).toString('latin1'), rest: splitter.rest?.toString('latin1'), splitter };
  }

  it('passes everything before the marker and keeps what follows, for every cut of the stream', () => {
    const stream = Buffer.from('out\x1eabc12 not it\x1e\x1eabc123\nafter', 'latin1');
    for (const pieces of cuts(stream)) {
      const { passed, rest } = split(pieces);
      expect(passed).toBe('out\x1eabc12 not it\x1e');
      expect(rest).toBe('after');
    }
  });

  it('holds back only a possible start of the marker, and gives it up when the stream ends without one', () => {
    const held = split([Buffer.from('line\n\x1eabc', 'latin1')]);
    expect(held.passed).toBe('line\n');
    expect(held.rest).toBeUndefined();
    const noSeparator = split([Buffer.from('progress 50%\n')]);
    expect(noSeparator.passed).toBe('progress 50%\n');
  });

  it('gives back the held bytes on flush', () => {
    const passed: string[] = [];
    const splitter = new MarkerSplitter(marker, (bytes) => passed.push(bytes.toString('latin1')));
    splitter.push(Buffer.from('x\x1eab', 'latin1'));
    splitter.flush();
    expect(passed.join('')).toBe('x\x1eab');
  });
});

describe("the launcher's stdout", () => {
  const nonce = 'f'.repeat(32);

  function read(chunks: Buffer[]) {
    const passed: Buffer[] = [];
    let acks = 0;
    const launcher = new LauncherStdout(nonce, (bytes) => passed.push(Buffer.from(bytes)), () => (acks += 1));
    for (const chunk of chunks) launcher.push(chunk);
    launcher.end();
    return { launcher, acks, passed: Buffer.concat(passed).toString('latin1') };
  }

  it('reads the acknowledgement, the run’s output and the trailer, for every cut', () => {
    const stream = Buffer.from(`\x1e${nonce}\nhello\x1e${nonce.slice(0, 8)}\n\x1e${nonce} 3 1\n`, 'latin1');
    for (const pieces of cuts(stream, 5)) {
      const { launcher, acks, passed } = read(pieces);
      expect(acks).toBe(1);
      expect(passed).toBe(`hello\x1e${nonce.slice(0, 8)}\n`);
      expect(launcher.result).toEqual({ exitCode: 3, hasOutputs: true });
      expect(launcher.protocolError).toBeUndefined();
    }
  });

  it('keeps output that ends without a newline apart from the trailer', () => {
    const { launcher, passed } = read([Buffer.from(`\x1e${nonce}\nno newline\x1e${nonce} 0 0\n`, 'latin1')]);
    expect(passed).toBe('no newline');
    expect(launcher.result).toEqual({ exitCode: 0, hasOutputs: false });
  });

  it('keeps all output when the stream ends without a trailer (the container stopped)', () => {
    const { launcher, passed } = read([Buffer.from(`\x1e${nonce}\npartial\x1e${nonce.slice(0, 4)}`, 'latin1')]);
    expect(launcher.result).toBeUndefined();
    expect(passed).toBe(`partial\x1e${nonce.slice(0, 4)}`);
  });

  it('reports a launcher that did not acknowledge, or wrote a malformed trailer', () => {
    const noAck = read([Buffer.from('sh: 1: eval: syntax error\n')]);
    expect(noAck.acks).toBe(0);
    expect(noAck.launcher.protocolError).toMatch(/did not acknowledge/);
    const malformed = read([Buffer.from(`\x1e${nonce}\n\x1e${nonce} x y\n`, 'latin1')]);
    expect(malformed.launcher.result).toBeUndefined();
    expect(malformed.launcher.protocolError).toMatch(/malformed/);
    const endless = read([Buffer.from(`\x1e${nonce}\n\x1e${nonce} ${'9'.repeat(100)}`, 'latin1')]);
    expect(endless.launcher.protocolError).toMatch(/too long/);
  });
});

describe("the launcher's ready line", () => {
  /** The launcher's first line as a real `sh` prints it, with `tar` on its PATH or not (stdin closed: it then exits). */
  const firstLine = (path: string) => {
    let out: Buffer;
    try {
      out = execFileSync('/bin/sh', ['-c', LAUNCHER_SCRIPT, 'sandrun-launcher'], { input: '', env: { PATH: path } });
    } catch (error) {
      out = (error as { stdout: Buffer }).stdout; // exit 125: no trigger came
    }
    return out;
  };

  it('says whether the image has tar, as the real shell prints it', () => {
    // No /run/sandrun-kept here (a container without secrets): nothing is kept in memory, nothing is tried.
    expect(parseReadyLine(firstLine(process.env.PATH!))).toEqual({ kind: 'ready', hasTar: true, keepsInMemory: false, rest: Buffer.alloc(0) });
    expect(parseReadyLine(firstLine('/nonexistent'))).toEqual({ kind: 'ready', hasTar: false, keepsInMemory: false, rest: Buffer.alloc(0) });
  });

  it('is read whole however it is cut, and what follows it is kept', () => {
    const bytes = Buffer.from('\x1eready tar\nmore', 'latin1');
    for (let cut = 0; cut < 11; cut += 1) expect(parseReadyLine(bytes.subarray(0, cut)).kind).toBe('partial');
    expect(parseReadyLine(bytes)).toEqual({ kind: 'ready', hasTar: true, keepsInMemory: false, rest: Buffer.from('more') });
  });

  it('says whether the launcher keeps copies of the run in memory (a container with secrets)', () => {
    expect(parseReadyLine(Buffer.from('\x1eready tar memory\n', 'latin1'))).toEqual({ kind: 'ready', hasTar: true, keepsInMemory: true, rest: Buffer.alloc(0) });
    expect(parseReadyLine(Buffer.from('\x1eready - memory\n', 'latin1'))).toMatchObject({ kind: 'ready', hasTar: false, keepsInMemory: true });
    expect(parseReadyLine(Buffer.from('\x1eready tar disk\n', 'latin1')).kind).toBe('none');
  });

  it('is not there when the stream begins otherwise, or the line is not one of its two forms', () => {
    expect(parseReadyLine(Buffer.from('[FATAL tini (7)] exec sh failed\n')).kind).toBe('none');
    expect(parseReadyLine(Buffer.from('\x1eready gzip\n', 'latin1')).kind).toBe('none');
    expect(parseReadyLine(Buffer.from(`\x1eready ${'x'.repeat(40)}`, 'latin1')).kind).toBe('none');
  });
});
