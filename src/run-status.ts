// The run-status vocabulary of SPEC §2, shared by the store, the run service, the API and the CLI.
export const RUN_STATUSES = ['pending', 'running', 'success', 'failed', 'timed_out', 'cancelled', 'error'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly RunStatus[] = ['success', 'failed', 'timed_out', 'cancelled', 'error'];
export const isTerminal = (status: RunStatus): boolean => TERMINAL_STATUSES.includes(status);
