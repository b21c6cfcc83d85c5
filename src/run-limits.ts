// What bounds one run (SPEC §3, §4): the server's defaults and maximums, a manifest's choice, and what the sandbox enforces.
export interface RunLimits {
  timeoutSeconds: number;
  memoryMb: number;
  cpus: number;
  pids: number;
}
