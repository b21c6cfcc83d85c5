// `sandrun completion bash`: a shell completion script from the command tree. The declaration; actions/completion.ts writes it.
import { Command } from 'commander';
import type { CliContext } from '../context.ts';

export function completionCommand(context: CliContext, program: () => Command): Command {
  return new Command('completion')
    .description('print a shell completion script: eval "$(sandrun completion bash)"')
    .argument('<shell>', 'bash')
    .action(async (shell: string) => {
      (await import('../actions/completion.ts')).printCompletion(context, shell, program());
    });
}
