// Secret values are replaced with *** in every form a run is likely to print them, whole or split across chunks.
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor, secretForms } from '../../src/sandbox/redaction.ts';

const VALUE = 's3cr3t-value-123';
const ODD = 'p@ss w/rd+?é=ü&';

function redactor(...values: string[]): Redactor {
  return Redactor.of(Object.fromEntries(values.map((value, index) => [`KEY_${index}`, value])))!;
}

/** Everything a stream redactor passes, chunk by chunk, for the given chunks. */
function streamed(r: Redactor, chunks: string[]): string[] {
  const passed: string[] = [];
  const stream = r.stream((chunk) => passed.push(chunk.toString('utf8')));
  for (const chunk of chunks) stream.push(Buffer.from(chunk, 'utf8'));
  stream.end();
  return passed;
}

function base64At(offset: number, value: string, url = false): string {
  const text = Buffer.concat([Buffer.from('xyz'.slice(0, offset)), Buffer.from(value), Buffer.from('tail')]).toString(url ? 'base64url' : 'base64');
  return text;
}

describe('redaction', () => {
  it('a value and its JSON-escaped, URL-encoded and base64 forms are ***', () => {
    const r = redactor(VALUE, ODD);
    const printed = [
      VALUE,
      ODD,
      encodeURIComponent(ODD),
      encodeURIComponent(ODD).toLowerCase(),
      JSON.stringify(ODD),
      Buffer.from(VALUE).toString('base64'),
      Buffer.from(VALUE).toString('base64url'),
      Buffer.from(ODD).toString('base64'),
      Buffer.from(ODD).toString('base64url'),
    ];
    for (const text of printed) {
      const out = r.text(`before ${text} after`);
      expect(out, `redacting ${text}`).toContain(REDACTED);
      for (const form of secretForms(VALUE).concat(secretForms(ODD))) expect(out, `${form} left in ${out}`).not.toContain(form);
      expect(out.startsWith('before ') && out.endsWith(' after'), out).toBe(true);
    }
  });

  it('the value inside longer base64 text is found at each of the three byte offsets, standard and URL-safe', () => {
    const r = redactor(ODD);
    for (const offset of [0, 1, 2]) {
      for (const url of [false, true]) {
        const encoded = base64At(offset, ODD, url);
        const out = r.text(encoded);
        expect(out, `offset ${offset}${url ? ' url-safe' : ''}: ${encoded} → ${out}`).toContain(REDACTED);
        // What is left is at most the characters shared with the neighbours: fewer than the value's own.
        expect(out.replace(REDACTED, '').length, out).toBeLessThanOrEqual(12);
      }
    }
  });

  it('a value split across chunks anywhere never passes, and the rest passes unchanged', () => {
    const r = redactor(VALUE, ODD);
    const text = `line one\n${VALUE}\nmid ${Buffer.from(ODD).toString('base64')} end ${VALUE}${VALUE}\nlast`;
    const expected = r.bytes(Buffer.from(text)).toString('latin1');
    const bytes = Buffer.from(text);
    for (let a = 0; a <= bytes.length; a += 1) {
      for (const b of [a, Math.min(bytes.length, a + 3), Math.min(bytes.length, a + 9)]) {
        const chunks = [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)].map((chunk) => chunk.toString('latin1'));
        const passed: Buffer[] = [];
        const stream = r.stream((chunk) => passed.push(chunk));
        for (const chunk of chunks) stream.push(Buffer.from(chunk, 'latin1'));
        stream.end();
        const whole = Buffer.concat(passed).toString('latin1');
        expect(whole, `split at ${a}/${b}`).toBe(expected);
        expect(whole).not.toContain(VALUE);
      }
    }
  });

  it('output with no secret in it is not held back: each chunk passes at once', () => {
    const r = redactor(VALUE);
    const passed: string[] = [];
    const stream = r.stream((chunk) => passed.push(chunk.toString()));
    stream.push(Buffer.from('progress 10%\n'));
    expect(passed).toEqual(['progress 10%\n']);
    stream.push(Buffer.from('value is s3cr'));
    expect(passed.join(''), 'the start of the value waits').toBe('progress 10%\nvalue is ');
    stream.push(Buffer.from('3t-value-123!\n'));
    stream.end();
    expect(passed.join('')).toBe(`progress 10%\nvalue is ${REDACTED}!\n`);
  });

  it('a flood of output with one value in the middle comes out the same size but for the value', () => {
    const r = redactor(VALUE);
    const chunks = Array.from({ length: 200 }, (_, i) => (i === 100 ? `xx${VALUE.slice(0, 5)}` : i === 101 ? `${VALUE.slice(5)}yy` : 'a'.repeat(997)));
    const out = streamed(r, chunks).join('');
    expect(out.length).toBe(chunks.join('').length - VALUE.length + REDACTED.length);
    expect(out).not.toContain(VALUE);
  });

  it('a 64 KiB value (a key file) printed in 4 KiB chunks is one ***, and output before it is not held back', () => {
    const key = Array.from({ length: 65536 / 16 }, (_, i) => `line ${String(i).padStart(10, '0')}`).join('');
    const r = redactor(key);
    const text = Buffer.from(`begin\n${key}\nend\n`);
    const passed: Buffer[] = [];
    const stream = r.stream((chunk) => passed.push(chunk));
    stream.push(Buffer.from('progress\n'));
    expect(Buffer.concat(passed).toString()).toBe('progress\n');
    for (let at = 0; at < text.length; at += 4096) stream.push(text.subarray(at, at + 4096));
    stream.end();
    expect(Buffer.concat(passed).toString()).toBe(`progress\nbegin\n${REDACTED}\nend\n`);
  });

  it('parsed outputs: keys, strings and numbers that hold a value become ***, the rest is untouched', () => {
    const r = redactor(VALUE, '12345678');
    const outputs = { token: VALUE, [`k-${VALUE}`]: 1, nested: [{ n: 12345678, m: 7, s: `Bearer ${VALUE}` }], ok: true, nil: null };
    expect(r.json(outputs)).toEqual({ token: REDACTED, [`k-${REDACTED}`]: 1, nested: [{ n: REDACTED, m: 7, s: `Bearer ${REDACTED}` }], ok: true, nil: null });
  });

  it('no secrets: no redactor', () => {
    expect(Redactor.of(undefined)).toBeUndefined();
    expect(Redactor.of({})).toBeUndefined();
  });
});
