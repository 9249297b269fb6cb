// A test runner that starts a helper ignoring SIGTERM in its own process group,
// writes the helper's pid to stderr, and exits 1 while the helper keeps running.
import { spawn } from 'node:child_process';

const helper = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
helper.unref();
setTimeout(() => {
  process.stderr.write(`helper pid ${helper.pid}\n`, () => process.exit(1));
}, 200);
