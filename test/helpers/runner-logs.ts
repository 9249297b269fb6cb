import fs from 'node:fs/promises';
import path from 'node:path';

import { formatLogTimestamp, runnerLogFolder, STDERR_LOG_SUFFIX } from '../../src/node/log-dir.js';
import type { Submission } from '../../src/telemetry/submission.js';

let sequence = 0;

/** Writes a runner log at its documented place under `logDir` and returns the submission a node would make for it. */
export async function writeRunnerLog(logDir: string, instanceId: string, runnerId: string, bytes: Buffer | string): Promise<Submission> {
  const folder = runnerLogFolder(logDir, instanceId, runnerId);
  await fs.mkdir(folder, { recursive: true });
  sequence += 1;
  const logPath = path.join(folder, `${formatLogTimestamp(new Date(Date.UTC(2026, 0, 1, 0, 0, sequence % 60)), sequence % 1000)}${STDERR_LOG_SUFFIX}`);
  await fs.writeFile(logPath, bytes);
  return {
    kind: 'runner-stderr',
    logPath,
    instanceId,
    runnerId,
    exitCode: 1,
    signal: null,
    diagnosticKinds: [],
    primaryCause: 'exit code 1',
    endedAtMs: Date.now(),
  };
}
