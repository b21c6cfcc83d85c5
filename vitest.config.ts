// Test runner settings: real engine tests are slow to start, so generous timeouts; one process per file.
// Two projects only for ordering: swarm.test.ts cuts a node of the shared swarm cluster off, so it runs after every
// other file (groupOrder 1), when no other file's runs are on the cluster. The global setup is the root's alone: one
// engine check and one shared cluster (test/helpers/swarm-cluster.ts) for the whole run.
import { defineConfig } from 'vitest/config';

const DISRUPTIVE = ['test/integration/swarm.test.ts'];
const common = { pool: 'forks', testTimeout: 120_000, hookTimeout: 120_000 } as const;

export default defineConfig({
  test: {
    ...common,
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default'],
    projects: [
      { test: { ...common, name: 'sandrun', include: ['test/**/*.test.ts'], exclude: DISRUPTIVE } },
      { test: { ...common, name: 'swarm-nodes', include: DISRUPTIVE, sequence: { groupOrder: 1 } } },
    ],
  },
});
