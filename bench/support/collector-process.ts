import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

import { makeTempDir, type TempDir } from './temp-dir.js';

/** The compiled CLI, from this file's place in dist/bench/support/. */
const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** How long the collector may take to print its listening URL. */
const START_TIMEOUT_MS = 15_000;
/** How long it may take to stop after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

export interface CollectorProcessOptions {
  /** Largest report accepted, in bytes (`--max-size`). */
  maxSizeBytes: number;
  /**
   * Nice value of the collector process, 0 to 19 (default: BENCH_COLLECTOR_NICE,
   * else 0). A real collector runs on another machine. On a small shared box, a
   * higher value leaves more CPU time to the process being measured.
   */
  nice?: number;
}

/** A collector (`exo telemetry serve`) running in a child process with a temporary store. */
export interface CollectorProcess {
  url: string;
  storeDir: string;
  pid: number;
  /** Stops the process and removes the store. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts `exo telemetry serve --port 0` on 127.0.0.1 in a child process, so its
 * work never runs on the event loop being measured, and resolves with the URL it
 * prints once listening. The presign rate limit is lifted: benchmarks presign in bursts.
 */
export async function startCollectorProcess(options: CollectorProcessOptions): Promise<CollectorProcess> {
  const store: TempDir = makeTempDir('collector');
  const child = spawn(
    process.execPath,
    [
      CLI_PATH,
      'telemetry',
      'serve',
      '--host', '127.0.0.1',
      '--port', '0',
      '--store', store.path,
      '--max-size', String(options.maxSizeBytes),
      '--presign-rate-limit', '1000000',
      '--log-format', 'json',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );

  let url: string;
  try {
    url = await listeningUrl(child);
  } catch (error) {
    child.kill('SIGKILL');
    store.remove();
    throw error;
  }
  const nice = options.nice ?? Number(process.env.BENCH_COLLECTOR_NICE ?? 0);
  if (nice !== 0) os.setPriority(child.pid!, nice);

  let closing: Promise<void> | undefined;
  return {
    url,
    storeDir: store.path,
    pid: child.pid!,
    close: () => (closing ??= stopChild(child).finally(() => store.remove())),
  };
}

/** Resolves with the `url` of the collector's "collector listening" JSON log line on stderr. */
function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let pending = '';
    const stderrLines: string[] = [];
    const timer = setTimeout(() => fail(`no "collector listening" line after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const fail = (reason: string) => {
      clearTimeout(timer);
      reject(new Error(`collector did not start: ${reason}; its stderr: ${stderrLines.slice(-5).join(' | ')}`));
    };

    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        stderrLines.push(line);
        const entry = parseJson(line);
        if (entry?.message === 'collector listening' && typeof entry.url === 'string') {
          clearTimeout(timer);
          resolve(entry.url);
        }
      }
    });
    child.once('error', (error) => fail(error.message));
    child.once('exit', (code, signal) => fail(`it exited with ${signal ?? `code ${code}`}`));
  });
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
