// Parses YAML texts in a worker thread, one message each (see yaml-parser.ts); plain JavaScript, so a worker loads it unchanged whether the server runs from src/ or from the bundle.
import { parentPort, workerData } from 'node:worker_threads';
import { isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';

/**
 * Answers with one message:
 *   { kind: 'parsed', value, lines }   value as toJS({ mapAsMap: true }); lines: [JSON of a path of strings, line]
 *   { kind: 'syntax', line, message }  the first YAML error, or a repeated key
 *   { kind: 'refused', reason }        an alias bomb or nesting deeper than the stack
 * Keys are checked for uniqueness here, in one pass, rather than by the yaml package's pairwise check (quadratic
 * in the number of keys of a mapping).
 */
function parse(text, maxAliasCount) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const syntaxError = doc.errors[0];
  if (syntaxError) {
    return { kind: 'syntax', line: lineCounter.linePos(syntaxError.pos[0]).line, message: syntaxError.message };
  }
  const lineOf = (node, fallback) => (isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : fallback);
  const lines = [];
  // Iterative, so that the walk itself has no depth limit of its own.
  const pending = [{ node: doc.contents, path: [], line: lineOf(doc.contents, 1) }];
  while (pending.length > 0) {
    const { node, path, line } = pending.pop();
    lines.push([JSON.stringify(path), line]);
    if (isMap(node)) {
      const seen = new Set();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : null;
        const keyLine = lineOf(pair.key, line);
        if (key === null) {
          pending.push({ node: pair.value, path: [...path, '?'], line: keyLine });
          continue;
        }
        if (seen.has(key)) return { kind: 'syntax', line: keyLine, message: `Map keys must be unique; '${key}' is repeated` };
        seen.add(key);
        pending.push({ node: pair.value, path: [...path, key], line: keyLine });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => pending.push({ node: item, path: [...path, String(index)], line: lineOf(item, line) }));
    }
  }
  return { kind: 'parsed', value: doc.toJS({ mapAsMap: true, maxAliasCount }), lines };
}

/** Never throws for what a document does: the worker stays up for the next one. */
function answer(text) {
  try {
    return parse(text, workerData.maxAliasCount);
  } catch (error) {
    if (error instanceof RangeError) return { kind: 'refused', reason: 'it nests too deeply to parse' };
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      return { kind: 'refused', reason: `it expands aliases more than ${workerData.maxAliasCount} times (an alias bomb?)` };
    }
    throw error;
  }
}

parentPort.on('message', (text) => parentPort.postMessage(answer(text)));
