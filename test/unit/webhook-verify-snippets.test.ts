// The receiver snippets of docs/api.md (Node and Python) verify real signatures and refuse forged, altered and stale ones: the documentation cannot drift from the signer.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { newWebhookSecret, signatureHeader } from '../../src/webhooks/webhook-signature.ts';

const API_DOC = readFileSync(fileURLToPath(new URL('../../docs/api.md', import.meta.url)), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'sandrun-snippets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fenced block of `language` whose first line is `first`. */
function snippet(language: string, first: string): string {
  const block = API_DOC.split(`\`\`\`${language}\n`).slice(1).map((part) => part.slice(0, part.indexOf('```'))).find((code) => code.startsWith(first));
  if (!block) throw new Error(`docs/api.md has no ${language} block starting with ${first}`);
  return block;
}

const secret = newWebhookSecret();
const body = JSON.stringify({ run_id: 'r1', status: 'success', stdout: 'héllo\n', outputs: { revenue: [100, 110, 121] } });
const now = 1_800_000_000;
/** [case, header, body, expected] */
const cases: Array<[string, string, string, boolean]> = [
  ['a delivery as sent', signatureHeader(secret, now - 10, body), body, true],
  ['another body', signatureHeader(secret, now - 10, body), `${body} `, false],
  ['another secret', signatureHeader(newWebhookSecret(), now - 10, body), body, false],
  ['a t older than the tolerance', signatureHeader(secret, now - 301, body), body, false],
  ['a t moved without re-signing', signatureHeader(secret, now - 10, body).replace(/^t=\d+/, `t=${now}`), body, false],
  ['no signature at all', 'garbage', body, false],
];

describe('the verification snippets in docs/api.md', () => {
  it('Node: accepts exactly the valid, fresh signature', async () => {
    const file = join(dir, 'verify-sandrun.mjs');
    writeFileSync(file, snippet('js', '// verify-sandrun.mjs'));
    const { verifySandrunSignature } = (await import(pathToFileURL(file).href)) as { verifySandrunSignature: (...args: unknown[]) => boolean };
    for (const [name, header, sent, expected] of cases) expect(verifySandrunSignature(secret, header, Buffer.from(sent), 300, now), name).toBe(expected);
  });

  it('Python: accepts exactly the valid, fresh signature', () => {
    const file = join(dir, 'verify_sandrun.py');
    writeFileSync(file, snippet('python', '# verify_sandrun.py'));
    const driver = `import json, sys\nsys.path.insert(0, ${JSON.stringify(dir)})\nfrom verify_sandrun import verify_sandrun_signature\nsecret, now, cases = json.load(sys.stdin)\nprint(json.dumps([verify_sandrun_signature(secret, header, sent.encode("utf-8"), 300, now) for header, sent in cases]))\n`;
    const input = JSON.stringify([secret, now, cases.map(([, header, sent]) => [header, sent])]);
    const answers = JSON.parse(execFileSync('python3', ['-c', driver], { input, encoding: 'utf8' })) as boolean[];
    expect(Object.fromEntries(cases.map(([name], index) => [name, answers[index]]))).toEqual(Object.fromEntries(cases.map(([name, , , expected]) => [name, expected])));
  });
});
