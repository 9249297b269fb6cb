/**
 * Uploader thread fixture: the first thread started for a log dir dies of an
 * uncaught error, as a bug or a bad input would make it. Later threads run
 * the real uploader. A marker file in the log dir remembers the first start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { workerData } from 'node:worker_threads';

import type { UploaderWorkerData } from '../../src/telemetry/uploader-control.js';

const data = workerData as UploaderWorkerData;
const marker = path.join(data.logDir, 'uploader-crashed-once');

if (fs.existsSync(marker)) {
  await import('../../workers/uploader.js');
} else {
  fs.writeFileSync(marker, 'crashed\n');
  setTimeout(() => {
    throw new Error('injected uploader failure');
  }, 10);
}
