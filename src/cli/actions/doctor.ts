// What `sandrun doctor` does: runs the checks of doctor-checks.ts and prints each verdict with what to fix.
import { EXIT } from '../cli-error.ts';
import { printJson, type CliContext, type JsonFlag } from '../context.ts';
import { runChecks } from '../doctor-checks.ts';

export async function doctor(context: CliContext, flags: JsonFlag): Promise<void> {
  const checks = await runChecks(context.env);
  const failed = checks.some((check) => check.status === 'fail');
  context.exitCode = failed ? EXIT.runFailed : EXIT.success;
  if (flags.json) return printJson(context, { ok: !failed, checks });
  const { green, red, yellow, dim } = context.terminal.colours;
  const width = Math.max(...checks.map((check) => check.name.length));
  for (const check of checks) {
    const mark = check.status === 'ok' ? green('ok  ') : check.status === 'warn' ? yellow('warn') : red('FAIL');
    context.terminal.stdout.write(`${mark}  ${check.name.padEnd(width)}  ${check.detail}\n`);
    if (check.fix && check.status !== 'ok') context.terminal.stdout.write(`      ${' '.repeat(width)}  ${dim('fix:')} ${check.fix}\n`);
  }
  context.terminal.stdout.write(failed ? red('\nsome checks failed: fix them, then run sandrun doctor again\n') : green('\nready to serve\n'));
}
