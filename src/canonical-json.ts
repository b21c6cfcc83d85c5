// Canonical JSON: one spelling per value (object keys sorted by code unit, recursively; no whitespace), for hashes and comparisons.

/**
 * JSON text of a JSON value in which equal values are equal strings: object keys sorted (by UTF-16 code unit, as
 * JavaScript compares strings), no whitespace, strings and numbers as JSON.stringify spells them. An object entry
 * whose value is undefined is left out, as JSON.stringify leaves it out; anything else that is not JSON (a function,
 * a bigint) is a programming error and throws.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`canonicalJson: ${typeof value} is not a JSON value`);
  return text;
}
