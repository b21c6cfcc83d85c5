// Canonical JSON: one spelling per JSON value, whatever the key order or spacing it came with.
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts object keys at every depth and writes no whitespace', () => {
    const value = { b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } };
    expect(canonicalJson(value)).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('gives equal values equal text whatever order their keys were written in', () => {
    const one = JSON.parse('{"rate": 0.5, "years": [1, 2], "meta": {"by": "me", "at": 3}}') as unknown;
    const two = JSON.parse('{"meta":{"at":3,"by":"me"},"years":[1,2],"rate":0.5}') as unknown;
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it('keeps array order: a different order is a different value', () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('sorts keys by UTF-16 code unit, not by locale', () => {
    expect(canonicalJson({ b: 1, B: 2, ä: 3, a: 4 })).toBe('{"B":2,"a":4,"b":1,"ä":3}');
  });

  it('spells strings and numbers as JSON does (escapes, exponents, -0 as 0)', () => {
    expect(canonicalJson({ s: 'line\n"q"\u2028', n: 1e21, m: -0, f: 0.1 })).toBe('{"f":0.1,"m":0,"n":1e+21,"s":"line\\n\\"q\\"\u2028"}');
  });

  it('leaves out object entries whose value is undefined, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined])).toBe('[null]');
  });

  it('refuses what is not JSON rather than hashing an accident', () => {
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function is not a JSON value/);
  });
});
