// What `sandrun completion bash` prints: a bash completion script generated from the command tree, so it never falls behind.
import type { Command } from 'commander';
import { usageError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';

interface Node {
  path: string;
  words: string[];
}

function walk(command: Command, path: string[], into: Node[]): void {
  const words = [...command.commands.map((child) => child.name()), ...command.options.map((option) => option.long ?? option.short ?? '').filter(Boolean), '--help'];
  into.push({ path: path.join(' '), words });
  for (const child of command.commands) walk(child, [...path, child.name()], into);
}

function bashCompletion(program: Command): string {
  const nodes: Node[] = [];
  walk(program, [], nodes);
  const cases = nodes.map((node) => `    "${node.path}") words="${node.words.join(' ')}" ;;`).join('\n');
  return `# bash completion for sandrun: eval "$(sandrun completion bash)" (or save it under /etc/bash_completion.d/sandrun)
_sandrun() {
  local cur path="" word i words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    case "$path" in
${nodes.map((node) => `      "${node.path}") [[ " ${node.words.join(' ')} " == *" $word "* ]] && path="\${path:+$path }$word" ;;`).join('\n')}
    esac
  done
  case "$path" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _sandrun sandrun
`;
}

export function printCompletion(context: CliContext, shell: string, program: Command): void {
  if (shell !== 'bash') throw usageError(`completion: only bash is supported (got ${shell})`);
  context.terminal.stdout.write(bashCompletion(program));
}
