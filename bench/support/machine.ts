import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Returns the CPU model as /proc/cpuinfo names it, else as Node.js reports it. */
export function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match !== null) return match[1]!.trim();
  } catch {
    // No /proc here: fall back to what libuv reports.
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** One line describing the machine a benchmark ran on: cores, CPU model, memory, Node.js version, load. */
export function describeMachine(): string {
  const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  const memoryGiB = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${os.availableParallelism()} cores, ${cpuModel()}, ${memoryGiB} GiB RAM, Node.js ${process.version}, ${os.platform()} ${os.release()}, load average ${load}`;
}
