// Prints the one closing line CI reads ("Tests: N passed, N failed, N skipped") from vitest's JSON report, after the
// counts per backend of the suites run on each (test/helpers/backends.ts names their outer describe 'docker' or 'swarm').
import { readFileSync } from 'node:fs';

const BACKENDS = ['docker', 'swarm'];

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const perBackend = new Map(BACKENDS.map((name) => [name, { passed: 0, failed: 0, skipped: 0 }]));
for (const file of report.testResults ?? []) {
  for (const test of file.assertionResults ?? []) {
    const counts = perBackend.get(test.ancestorTitles?.[0]);
    if (!counts) continue;
    if (test.status === 'passed') counts.passed += 1;
    else if (test.status === 'failed') counts.failed += 1;
    else counts.skipped += 1;
  }
}
for (const [name, counts] of perBackend) {
  console.log(`Backend ${name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
}
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`Tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
