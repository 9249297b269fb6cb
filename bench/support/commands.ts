import { spawn, spawnSync } from 'node:child_process';

/** Returns the path of `command` on PATH, or undefined when it is not installed. */
export function which(command: string): string | undefined {
  const result = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { encoding: 'utf8' });
  const found = result.stdout.trim();
  return result.status === 0 && found !== '' ? found : undefined;
}

/** Runs a command to its end; resolves with its stdout, or rejects with its exit status and stderr. */
export function runCommand(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolve(Buffer.concat(stdout).toString('utf8'));
        return;
      }
      const reason = signal ?? `exit code ${code}`;
      reject(new Error(`${command} ${args.join(' ')} failed with ${reason}: ${Buffer.concat(stderr).toString('utf8').trim().slice(0, 300)}`));
    });
  });
}
