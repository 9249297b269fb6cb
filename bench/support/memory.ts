import { readFileSync, writeFileSync } from 'node:fs';

const MIB = 1024 * 1024;

/**
 * Reads the kernel's peak resident set size of this process (VmHWM), which
 * covers every thread, in bytes. Returns undefined where /proc is missing.
 */
export function readPeakRssBytes(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Resets VmHWM to the current RSS (Linux 4.0 and later: writing 5 to
 * /proc/self/clear_refs). Returns false where that is not possible, and then
 * only the sampled peak is meaningful.
 */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak RSS growth over a window, from samples and, on Linux, from the kernel's own peak. */
export interface RssGrowth {
  baselineBytes: number;
  /** Highest sample minus the baseline. Samples miss peaks shorter than the interval. */
  sampledGrowthBytes: number;
  /** VmHWM at the end minus the baseline; undefined where VmHWM cannot be reset. */
  kernelGrowthBytes: number | undefined;
  samples: number;
}

/**
 * Samples process.memoryUsage.rss() every `intervalMs` on the main thread's
 * timers. The upload runs in worker threads of this same process, so their
 * memory is in the RSS too.
 */
export class RssSampler {
  private baselineBytes = 0;
  private peakBytes = 0;
  private samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private kernelPeakReset = false;

  constructor(private readonly intervalMs = 5) {}

  start(): void {
    this.kernelPeakReset = resetPeakRss();
    this.baselineBytes = process.memoryUsage.rss();
    this.peakBytes = this.baselineBytes;
    this.samples = 1;
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): RssGrowth {
    clearInterval(this.timer);
    this.sample();
    const kernelPeak = this.kernelPeakReset ? readPeakRssBytes() : undefined;
    return {
      baselineBytes: this.baselineBytes,
      sampledGrowthBytes: this.peakBytes - this.baselineBytes,
      kernelGrowthBytes: kernelPeak === undefined ? undefined : kernelPeak - this.baselineBytes,
      samples: this.samples,
    };
  }

  private sample(): void {
    this.samples += 1;
    this.peakBytes = Math.max(this.peakBytes, process.memoryUsage.rss());
  }
}

/** Formats a byte count in MiB for table cells. */
export function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}
