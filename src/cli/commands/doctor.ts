// `sandrun doctor`: checks the engine, runtimes, images, data dir and configuration. The declaration; actions/doctor.ts does it.
import { Command } from 'commander';
import { addJsonOption, type CliContext, type JsonFlag } from '../context.ts';

export function doctorCommand(context: CliContext): Command {
  return addJsonOption(new Command('doctor').description('check that this machine can serve sandrun, and say what to fix')).action(async (flags: JsonFlag) => {
    await (await import('../actions/doctor.ts')).doctor(context, flags);
  });
}
