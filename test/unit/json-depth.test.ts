// Nesting depth without recursion: on raw JSON bytes before parsing (with the path to the first too-deep value), and on parsed values.
import { describe, expect, it } from 'vitest';
import { nestsDeeperThan, renderPath, tooDeepInText } from '../../src/json-depth.ts';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('tooDeepInText', () => {
  it('finds the path to the first container past the limit', () => {
    expect(tooDeepInText(bytes('{"a":{"b":[1,[2]]}}'), 4)).toBeUndefined();
    expect(tooDeepInText(bytes('{"a":{"b":[1,[2]]}}'), 3)).toEqual(['a', 'b', 1]);
    expect(tooDeepInText(bytes('[[[]]]'), 2)).toEqual([0, 0]);
  });

  it('ignores brackets, quotes and escapes inside strings', () => {
    expect(tooDeepInText(bytes('{"k[{":"[[[[\\"{{{{","x":1}'), 1)).toBeUndefined();
    expect(tooDeepInText(bytes('{"a\\"b":{"c":{}}}'), 2)).toEqual(['a\\"b', 'c']);
  });

  it('names the key an array element or member sits under after commas', () => {
    expect(tooDeepInText(bytes('{"scope":"project","parameters":{"x":[0,1,{"deep":{}}]}}'), 4)).toEqual(['parameters', 'x', 2, 'deep']);
  });

  it('scans a 2 MiB body nested a million levels deep in one pass', () => {
    const text = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    expect(renderPath(tooDeepInText(bytes(text), 40)!)).toBe('0.0.0.0.…');
  });
});

describe('nestsDeeperThan', () => {
  it('counts objects and arrays as one level each, scalars as none', () => {
    expect(nestsDeeperThan(1, 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: {} }] }, 4)).toBe(false);
  });

  it('walks a value 100,000 levels deep without overflowing the stack', () => {
    let value: unknown = {};
    for (let i = 0; i < 100_000; i += 1) value = { a: value };
    expect(nestsDeeperThan(value, 32)).toBe(true);
  });
});
