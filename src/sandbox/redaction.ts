// A run's secret values out of everything it returns (SPEC §10): live and captured logs, outputs, messages; the forms a value is printed in included.
import type { SandboxResult } from './backend.ts';

export const REDACTED = '***';

/** A base64 fragment shorter than this is not looked for: four characters match ordinary base64 text by chance too often. */
const MIN_FRAGMENT_LENGTH = 4;
/** How much of each form the hold-back looks for (streams): enough to rarely match ordinary output by chance. */
const ANCHOR_LENGTH = 8;

const urlSafe = (base64: string) => base64.replace(/\+/g, '-').replace(/\//g, '_');

/**
 * The forms a value is likely to be printed in: as it is; JSON-escaped (as JSON.stringify, and ASCII-only as
 * Python's json.dumps); URL-encoded (encodeURIComponent, with `+` for spaces, lower-case hex); base64, standard and
 * URL-safe, padded and not, and the characters that stand for the value alone when it sits at any of the three
 * byte offsets inside longer base64 text.
 */
export function secretForms(value: string): string[] {
  const forms = new Set<string>([value]);
  const json = JSON.stringify(value).slice(1, -1);
  forms.add(json);
  forms.add(json.replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`));
  const url = encodeURIComponent(value);
  forms.add(url);
  forms.add(url.replace(/%20/g, '+'));
  forms.add(url.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
  const bytes = Buffer.from(value, 'utf8');
  const padded = bytes.toString('base64');
  for (const base64 of [padded, padded.replace(/=+$/, '')]) {
    forms.add(base64);
    forms.add(urlSafe(base64));
  }
  for (const offset of [0, 1, 2]) {
    // Only the characters whose six bits all come from the value: the ones before and after depend on its neighbours.
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const fragment = encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    if (fragment.length < MIN_FRAGMENT_LENGTH) continue;
    forms.add(fragment);
    forms.add(urlSafe(fragment));
  }
  forms.delete('');
  return [...forms];
}

const REDACTED_BYTES = Buffer.from(REDACTED);

/**
 * Finds forms in bytes, leftmost first and, at one position, the longest. Each form is searched with Buffer.indexOf
 * (native, and linear in practice), its next occurrence kept until passed: one regular expression of all forms
 * would be simpler, but a long value (a 64 KiB key) makes it too large for the engine's compiled code, and the
 * interpreter it falls back to reads a stream at a few MB/s.
 */
class FormSearch {
  private readonly next: number[];
  private from = 0;

  constructor(
    private readonly forms: readonly Buffer[],
    private readonly bytes: Buffer,
  ) {
    this.next = forms.map(() => -2);
  }

  /** The next match at or after the end of the previous one, or undefined. */
  match(): { start: number; end: number } | undefined {
    let best: { start: number; end: number } | undefined;
    for (const [index, form] of this.forms.entries()) {
      if (this.next[index]! !== -1 && this.next[index]! < this.from) this.next[index] = this.bytes.indexOf(form, this.from);
      const start = this.next[index]!;
      if (start === -1) continue;
      if (!best || start < best.start || (start === best.start && start + form.length > best.end)) best = { start, end: start + form.length };
    }
    if (best) this.from = best.end;
    return best;
  }
}

/** The redactor made for a run's secrets (the spec's own object), while that object lives. */
const madeFor = new WeakMap<Record<string, string>, Redactor | undefined>();

export class Redactor {
  /** Every form's UTF-8 bytes. */
  private readonly forms: Buffer[];
  /** The first ANCHOR_LENGTH bytes of each form (the whole of a shorter one). */
  private readonly anchors: Buffer[];
  /** The longest form in bytes: a stream holds back less than this. */
  readonly longestForm: number;

  private constructor(values: readonly string[]) {
    this.forms = [...new Set(values.flatMap(secretForms))].map((form) => Buffer.from(form, 'utf8'));
    const anchors = new Map(this.forms.map((form) => [form.subarray(0, ANCHOR_LENGTH).toString('latin1'), form.subarray(0, ANCHOR_LENGTH)]));
    this.anchors = [...anchors.values()];
    this.longestForm = Math.max(...this.forms.map((form) => form.length));
  }

  /** A redactor for these secrets; undefined when there are none (then nothing is rewritten, at no cost). */
  static of(secrets: Record<string, string> | undefined): Redactor | undefined {
    if (!secrets) return undefined;
    // A run's logs, files and result each ask for the redactor of the same secrets: their forms are built once.
    if (madeFor.has(secrets)) return madeFor.get(secrets);
    const values = Object.values(secrets).filter((value) => value.length > 0);
    const redactor = values.length > 0 ? new Redactor(values) : undefined;
    madeFor.set(secrets, redactor);
    return redactor;
  }

  /** Text with every form replaced; the very same string when it holds none. */
  text(text: string): string {
    const bytes = Buffer.from(text, 'utf8');
    const redacted = this.bytes(bytes);
    // Forms are whole characters, so the bytes stay valid UTF-8; a string without a form is returned untouched.
    return redacted === bytes ? text : redacted.toString('utf8');
  }

  /** Every string in a parsed JSON value, keys included; a number or boolean whose text holds a value becomes `***`. */
  json(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (typeof value === 'number' || typeof value === 'boolean') return this.text(String(value)) === String(value) ? value : REDACTED;
    if (Array.isArray(value)) return value.map((item) => this.json(item));
    if (value !== null && typeof value === 'object') {
      // Defined, never assigned: a key named __proto__ stays an ordinary key (outputs.ts does the same).
      const result: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        Object.defineProperty(result, this.text(key), { value: this.json(item), enumerable: true, writable: true, configurable: true });
      }
      return result;
    }
    return value;
  }

  /** Bytes with every form replaced; the very same buffer when they hold none. */
  bytes(bytes: Buffer): Buffer {
    const { redacted, passed } = this.redactBefore(bytes, bytes.length);
    return passed === bytes.length && redacted.length === 1 && redacted[0] === bytes ? bytes : Buffer.concat([...redacted, bytes.subarray(passed)]);
  }

  /**
   * Replaces every form that starts before `limit`; returns the pieces up to where it stopped (at least `limit`,
   * more when a form crosses it) and that position.
   */
  redactBefore(bytes: Buffer, limit: number): { redacted: Buffer[]; passed: number } {
    const redacted: Buffer[] = [];
    const search = new FormSearch(this.forms, bytes);
    let passed = 0;
    for (let match = search.match(); match && match.start < limit; match = search.match()) {
      if (match.start > passed) redacted.push(bytes.subarray(passed, match.start));
      redacted.push(REDACTED_BYTES);
      passed = match.end;
    }
    if (limit > passed) redacted.push(bytes.subarray(passed, limit));
    return { redacted, passed: Math.max(passed, limit) };
  }

  /** A redacting filter for one stream of bytes that passes what it has cleared to `pass`. */
  stream(pass: (chunk: Buffer) => void): StreamRedactor {
    return new StreamRedactor(this, pass);
  }

  /**
   * Where the bytes that must wait for the next chunk begin: the first position, among the last longestForm - 1,
   * from which the rest could still grow into a form. It is found cheaply and conservatively: where a form's first
   * ANCHOR_LENGTH bytes occur whole, or, within the last few bytes, where the rest is the start of one.
   */
  holdFrom(bytes: Buffer): number {
    const windowStart = Math.max(0, bytes.length - (this.longestForm - 1));
    let anchored = bytes.length;
    for (const anchor of this.anchors) {
      const at = bytes.indexOf(anchor, windowStart);
      if (at !== -1 && at < anchored) anchored = at;
    }
    for (let at = Math.max(windowStart, bytes.length - (ANCHOR_LENGTH - 1)); at < anchored; at += 1) {
      const rest = bytes.subarray(at);
      if (this.anchors.some((anchor) => anchor.length > rest.length && anchor.subarray(0, rest.length).equals(rest))) return at;
    }
    return anchored;
  }

  /** A result with no form of a value in its outputs (keys and values) or in its outcome's message; its logs are redacted as they stream. */
  result(result: SandboxResult): SandboxResult {
    const outcome = 'message' in result.outcome ? { ...result.outcome, message: this.text(result.outcome.message) } : result.outcome;
    return { ...result, outcome, outputs: this.json(result.outputs) as Record<string, unknown> };
  }
}

/**
 * Redacts a stream chunk by chunk. A value split across two chunks must not pass in two halves: the bytes at the
 * end of a chunk that could be the start of a form are held back until the next chunk (or the end) tells.
 */
export class StreamRedactor {
  private held: Buffer = Buffer.alloc(0);

  constructor(
    private readonly redactor: Redactor,
    private readonly pass: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    const bytes = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    // A form that began before the held bytes and ends inside them is whole, and is replaced with the rest.
    const { redacted, passed } = this.redactor.redactBefore(bytes, this.redactor.holdFrom(bytes));
    // Copied: the caller may reuse the chunk's memory once this returns.
    this.held = Buffer.from(bytes.subarray(passed));
    if (passed > 0) this.pass(Buffer.concat(redacted));
  }

  /**
   * The stream was cut short (its copy hit a cap, or went with its container): what was held back is dropped, since
   * it may be the first part of a form whose rest never came, which no redaction would find.
   */
  drop(): void {
    this.held = Buffer.alloc(0);
  }

  /** The stream ended: what was held back is redacted and passed. */
  end(): void {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    if (rest.length > 0) this.pass(Buffer.from(this.redactor.bytes(rest)));
  }
}
