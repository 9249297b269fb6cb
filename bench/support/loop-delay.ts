import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

import { quantile } from '../table.js';

/**
 * Event-loop delay figures in milliseconds. As monitorEventLoopDelay reports
 * them, each sample is the time between two timer ticks, so an idle loop shows
 * about the resolution, and a blocked loop the resolution plus the block.
 */
export interface LoopDelayFigures {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  samples: number;
  resolutionMs: number;
  /** Windows the figures come from. */
  windows: number;
}

/**
 * Records the main thread's event-loop delay over one or more windows, one
 * fresh histogram each. A histogram enabled again would count the pause between
 * windows as one long delay, and node cannot add an event-loop histogram to
 * another (Node 20), so windows are combined by their figures instead.
 */
export class LoopDelayRecorder {
  private readonly windows: LoopDelayFigures[] = [];
  private current: IntervalHistogram | undefined;

  constructor(readonly resolutionMs: number) {}

  /** Starts a window. */
  start(): void {
    if (this.current !== undefined) throw new Error('loop delay window already open: call stop() first');
    this.current = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.current.enable();
  }

  /** Ends the window and returns its figures. */
  stop(): LoopDelayFigures {
    const histogram = this.current;
    if (histogram === undefined) throw new Error('no loop delay window open: call start() first');
    this.current = undefined;
    histogram.disable();
    const toMs = (nanoseconds: number) => nanoseconds / 1e6;
    const figures: LoopDelayFigures = {
      p50Ms: toMs(histogram.percentile(50)),
      p99Ms: toMs(histogram.percentile(99)),
      maxMs: toMs(histogram.max),
      meanMs: toMs(histogram.mean),
      samples: histogram.count,
      resolutionMs: this.resolutionMs,
      windows: 1,
    };
    this.windows.push(figures);
    return figures;
  }

  /**
   * Returns the figures of every window so far: the median over windows of
   * each window's p50, p99 and mean, and the largest max.
   */
  figures(): LoopDelayFigures {
    const median = (pick: (figures: LoopDelayFigures) => number) => quantile(this.windows.map(pick), 0.5);
    return {
      p50Ms: median((figures) => figures.p50Ms),
      p99Ms: median((figures) => figures.p99Ms),
      maxMs: Math.max(...this.windows.map((figures) => figures.maxMs)),
      meanMs: median((figures) => figures.meanMs),
      samples: this.windows.reduce((sum, figures) => sum + figures.samples, 0),
      resolutionMs: this.resolutionMs,
      windows: this.windows.length,
    };
  }
}
