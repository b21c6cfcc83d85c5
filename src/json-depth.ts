// Nesting depth of JSON, measured without recursion: on raw request bytes before they are parsed, and on parsed values.

/** How many segments of a too-deep path an error shows before "…". */
const SHOWN_SEGMENTS = 4;
const SHOWN_KEY_LENGTH = 40;

const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const COMMA = 0x2c; // ,
const COLON = 0x3a; // :

interface Frame {
  /** Object: the member key being read (undefined before the first); array: the element index. */
  key: string | number | undefined;
  isArray: boolean;
}

export function renderPath(path: readonly (string | number)[]): string {
  const shown = path.slice(0, SHOWN_SEGMENTS).map(String).join('.');
  return path.length > SHOWN_SEGMENTS ? `${shown}.…` : shown;
}

/**
 * The path to the first container nested deeper than `limit` in UTF-8 JSON text (objects and arrays each count one
 * level; the top-level value is level 1), or undefined when none is. One linear pass over the bytes: JSON.parse of a
 * 2 MiB body nested a million deep takes over half a second of the event loop, this takes milliseconds. It reads
 * structure only; whether the text is valid JSON is the parser's to say.
 */
export function tooDeepInText(bytes: Uint8Array, limit: number): (string | number)[] | undefined {
  const stack: Frame[] = [];
  let expectingKey = false;
  for (let i = 0; i < bytes.length; i += 1) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      const start = i;
      for (i += 1; i < bytes.length && bytes[i] !== QUOTE; i += 1) if (bytes[i] === BACKSLASH) i += 1;
      const top = stack[stack.length - 1];
      if (expectingKey && top && !top.isArray) {
        top.key = Buffer.from(bytes.subarray(start + 1, Math.min(i, start + 1 + SHOWN_KEY_LENGTH))).toString('utf8');
        expectingKey = false;
      }
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (stack.length >= limit) return [...stack.map((frame) => frame.key ?? 0)];
      stack.push({ key: byte === OPEN_ARRAY ? 0 : undefined, isArray: byte === OPEN_ARRAY });
      expectingKey = byte === OPEN_OBJECT;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      stack.pop();
      expectingKey = false;
    } else if (byte === COMMA) {
      const top = stack[stack.length - 1];
      if (top?.isArray) top.key = (top.key as number) + 1;
      else expectingKey = top !== undefined;
    } else if (byte === COLON) {
      expectingKey = false;
    }
  }
  return undefined;
}

/** Whether a parsed JSON value nests deeper than `limit` (a scalar is level 0, `{}` level 1), looking no deeper than that. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}
