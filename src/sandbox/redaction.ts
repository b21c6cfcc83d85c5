// A run's secret values out of everything it returns (SPEC §10): live and captured logs, outputs, messages; the forms a value is printed in included.
import type { SandboxResult } from './backend.ts';

export const REDACTED = '***';

/**
 * The shortest value worth setting: every value is redacted whatever its length (a leak is worse than a wrecked
 * log), but a value of one to three characters would turn every occurrence of, say, `a` into `***`. The secrets
 * store refuses shorter values; this is its rule (docs/decisions.md).
 */
export const MIN_SECRET_LENGTH = 4;

/** A base64 fragment shorter than this is not looked for: four characters match ordinary base64 text by chance too often. */
const MIN_FRAGMENT_LENGTH = 4;
/** How much of each form the hold-back looks for (streams): enough to rarely match ordinary output by chance. */
const ANCHOR_LENGTH = 8;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
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

/** One alternation of the forms, longest first, so that at any position the longest form present is the one replaced. */
function alternation(forms: readonly string[]): RegExp {
  return new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
}

export class Redactor {
  /** Over JavaScript strings (outputs, messages). */
  private readonly textPattern: RegExp;
  /** Over a stream's bytes read as latin1 (one character per byte): the forms' UTF-8 bytes, so read. */
  private readonly bytePattern: RegExp;
  private readonly byteAnchors: RegExp;
  private readonly anchorList: string[];
  /** The longest form in bytes: a stream holds back less than this. */
  readonly longestForm: number;

  private constructor(values: readonly string[]) {
    const forms = [...new Set(values.flatMap(secretForms))];
    const byteForms = forms.map((form) => Buffer.from(form, 'utf8').toString('latin1'));
    this.textPattern = alternation(forms);
    this.bytePattern = alternation(byteForms);
    this.anchorList = [...new Set(byteForms.map((form) => form.slice(0, ANCHOR_LENGTH)))];
    this.byteAnchors = alternation(this.anchorList);
    this.longestForm = Math.max(...byteForms.map((form) => form.length));
  }

  /** A redactor for these secrets; undefined when there are none (then nothing is rewritten, at no cost). */
  static of(secrets: Record<string, string> | undefined): Redactor | undefined {
    const values = Object.values(secrets ?? {}).filter((value) => value.length > 0);
    return values.length > 0 ? new Redactor(values) : undefined;
  }

  text(text: string): string {
    return text.replace(this.textPattern, REDACTED);
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

  /** Bytes (latin1) with every complete form replaced. */
  bytes(latin1: string): string {
    return latin1.replace(this.bytePattern, REDACTED);
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
  holdFrom(latin1: string): number {
    const windowStart = Math.max(0, latin1.length - (this.longestForm - 1));
    this.byteAnchors.lastIndex = windowStart;
    const anchored = this.byteAnchors.exec(latin1)?.index ?? latin1.length;
    for (let at = Math.max(windowStart, latin1.length - (ANCHOR_LENGTH - 1)); at < Math.min(anchored, latin1.length); at += 1) {
      const rest = latin1.slice(at);
      if (this.anchorList.some((anchor) => anchor.length > rest.length && anchor.startsWith(rest))) return at;
    }
    return anchored;
  }

  /** A result with no form of a value in its outputs (keys and values) or in its outcome's message; its logs are redacted as they stream. */
  result(result: SandboxResult): SandboxResult {
    const outcome = 'message' in result.outcome ? { ...result.outcome, message: this.text(result.outcome.message) } : result.outcome;
    return { ...result, outcome, outputs: this.json(result.outputs) as Record<string, unknown> };
  }

  /** The forms' bytes (latin1), for StreamRedactor; global, so each user resets lastIndex. */
  get pattern(): RegExp {
    return this.bytePattern;
  }
}

/**
 * Redacts a stream chunk by chunk. A value split across two chunks must not pass in two halves: the bytes at the
 * end of a chunk that could be the start of a form are held back until the next chunk (or the end) tells.
 */
export class StreamRedactor {
  private held = '';

  constructor(
    private readonly redactor: Redactor,
    private readonly pass: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    const text = this.held + chunk.toString('latin1');
    const holdFrom = this.redactor.holdFrom(text);
    const pattern = this.redactor.pattern;
    let cleared = '';
    let from = 0;
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match && match.index < holdFrom; match = pattern.exec(text)) {
      cleared += text.slice(from, match.index) + REDACTED;
      from = match.index + match[0].length;
    }
    // A form that began before the held bytes and ended inside them was whole, and is replaced already.
    const passUpTo = Math.max(from, holdFrom);
    cleared += text.slice(from, passUpTo);
    this.held = text.slice(passUpTo);
    if (cleared.length > 0) this.pass(Buffer.from(cleared, 'latin1'));
  }

  /** The stream ended: what was held back is redacted and passed. */
  end(): void {
    const rest = this.held;
    this.held = '';
    if (rest.length > 0) this.pass(Buffer.from(this.redactor.bytes(rest), 'latin1'));
  }
}
