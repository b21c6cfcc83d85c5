// `npm run chaos [-- --runs 200 --kills 10 --engine restart --seed N]`: runs the chaos and prints the invariants.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { runChaos } from './run-chaos.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' }, kills: { type: 'string' }, engine: { type: 'string' }, seed: { type: 'string' } } });
const options = z
  .object({
    runs: z.coerce.number().int().min(10).default(200),
    kills: z.coerce.number().int().min(0).default(10),
    engine: z.enum(['proxy', 'restart']).default('restart'),
    seed: z.coerce.number().int().default(Date.now() % 1_000_000),
  })
  .parse(values);
console.log(`chaos: ${options.runs} runs, ${options.kills} server kills, engine outage by ${options.engine}, seed ${options.seed}`);
const report = await runChaos({ ...options, log: (line) => console.log(`  ${line}`) });
console.log(`\n${report.accepted}/${report.submitted} submissions accepted in ${report.seconds} s; endings: ${JSON.stringify(report.byStatus)}`);
for (const invariant of report.invariants) console.log(`  ${invariant.ok ? 'ok  ' : 'FAIL'} ${invariant.name}: ${invariant.detail}`);
process.exit(report.invariants.every((invariant) => invariant.ok) ? 0 : 1);
