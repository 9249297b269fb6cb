/// <reference lib="es2024.sharedmemory" />
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { ExoError } from '../errors.js';
import {
  attachRing,
  CLOSED_FLAG,
  CONSUMER_SLEEPING_INDEX,
  nextPosition,
  POSITION_MASK,
  READ_INDEX,
  RECEIVED_COUNTER,
  RECORD_LENGTH_BYTES,
  ringDepth,
  slotOffset,
  WRITE_INDEX,
  type RingViews,
} from './layout.js';

/**
 * The receiving end of a ring made by createRingBuffer. One consumer per ring at
 * a time. Its position lives in the shared memory, so a consumer made after a
 * thread restart carries on where the last one stopped. A record that a thread
 * had copied out but not yet handled when it died is not delivered again.
 * Meant for one receive() at a time: a second one running alongside may sleep
 * until its own timeout even though records arrived.
 */
/**
 * How long receive() keeps polling an empty ring, yielding to the event loop
 * between polls, before it sleeps. Waking a sleeping thread costs the producer
 * an Atomics.notify of tens of µs (the lone-call figure of bench/submit-cost.ts),
 * so within a burst the consumer stays awake instead, at the price of up to
 * this much CPU time after each record.
 */
export const DEFAULT_SPIN_BEFORE_WAIT_MS = 1;

export interface RingConsumerOptions {
  /** Milliseconds of polling before sleeping, counted from the last record received; 0 sleeps at once. */
  spinBeforeWaitMs?: number;
}

export class RingConsumer {
  private readonly views: RingViews;
  private readonly spinBeforeWaitMs: number;
  /** Set when a record is taken, cleared when receive() goes to sleep: a burst may be under way. */
  private receivedSinceSleep = false;
  /**
   * Last write position loaded from the producer's line. It can only lag the
   * real one, so it is reloaded only when the ring looks empty.
   */
  private cachedWritePosition: number;

  constructor(buffer: SharedArrayBuffer, options: RingConsumerOptions = {}) {
    this.views = attachRing(buffer);
    const spinBeforeWaitMs = options.spinBeforeWaitMs ?? DEFAULT_SPIN_BEFORE_WAIT_MS;
    if (!Number.isFinite(spinBeforeWaitMs) || spinBeforeWaitMs < 0) {
      throw new RangeError(`invalid spinBeforeWaitMs ${String(spinBeforeWaitMs)}: expected a finite number of milliseconds ≥ 0`);
    }
    this.spinBeforeWaitMs = spinBeforeWaitMs;
    this.cachedWritePosition = Atomics.load(this.views.header, WRITE_INDEX) & POSITION_MASK;
  }

  get capacity(): number {
    return this.views.capacity;
  }

  /**
   * Takes the oldest record out of the ring, or returns null when it is empty.
   * The record is a copy (a Buffer from Node's pool for small records, several
   * times cheaper to allocate than a new Uint8Array), so the slot is free again
   * on return.
   */
  tryReceive(): Uint8Array | null {
    const { header, counters, words, bytes } = this.views;

    const readPosition = Atomics.load(header, READ_INDEX);
    // A cached position that looks a whole capacity ahead may be left from before
    // another consumer object took records from this ring, so it is reloaded too.
    const available = ringDepth(this.views, this.cachedWritePosition, readPosition);
    if (available === 0 || available >= this.views.capacity) {
      // This load synchronizes with the producer's store of the write position,
      // so the slot's length and payload written before that store are visible
      // below, now and on later calls that use the cached position.
      this.cachedWritePosition = Atomics.load(header, WRITE_INDEX) & POSITION_MASK;
      if (this.cachedWritePosition === readPosition) return null;
    }

    const offset = slotOffset(this.views, readPosition);
    const length = words[offset / 4]!;
    const start = offset + RECORD_LENGTH_BYTES;
    const record = length <= this.views.maxRecordBytes ? Buffer.allocUnsafe(length) : undefined;
    record?.set(bytes.subarray(start, start + length));

    // Storing the read position hands the slot back to the producer. Counting
    // after that keeps received + depth from exceeding sent in a snapshot.
    Atomics.store(header, READ_INDEX, nextPosition(this.views, readPosition));
    Atomics.add(counters, RECEIVED_COUNTER, 1n);
    this.receivedSinceSleep = true;

    if (record === undefined) {
      throw new ExoError(
        'ERR_RING_CORRUPT',
        `ring slot length ${length} exceeds the maximum record size ${this.views.maxRecordBytes}; the record was skipped. Only RingProducer may write to the ring buffer`,
      );
    }
    return record;
  }

  /**
   * Returns the oldest record, waiting up to `timeoutMs` for one with
   * Atomics.waitAsync so this thread's event loop keeps running meanwhile.
   * Right after a record, it first polls for spinBeforeWaitMs (see
   * DEFAULT_SPIN_BEFORE_WAIT_MS). Returns 'timeout' when none came in time,
   * and 'closed' only once the producer closed and every record sent before
   * that was received.
   * Rejects with a RangeError when `timeoutMs` is not a finite number ≥ 0.
   */
  async receive(timeoutMs: number): Promise<Uint8Array | 'timeout' | 'closed'> {
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(`invalid receive timeout ${String(timeoutMs)}: expected a finite number of milliseconds ≥ 0`);
    }
    const { header } = this.views;
    const startedAt = performance.now();
    const deadline = startedAt + timeoutMs;
    const spinUntil = this.receivedSinceSleep ? startedAt + this.spinBeforeWaitMs : 0;

    for (;;) {
      const record = this.tryReceive();
      if (record !== null) return record;

      // The closed flag shares the word with the write position, so one load
      // shows whether a record arrived after tryReceive and whether the stream ended.
      const word = Atomics.load(header, WRITE_INDEX);
      if ((word & POSITION_MASK) !== Atomics.load(header, READ_INDEX)) continue;
      if ((word & CLOSED_FLAG) !== 0) return 'closed';

      const now = performance.now();
      const remainingMs = deadline - now;
      if (remainingMs <= 0) return 'timeout';
      if (now < spinUntil) {
        await yieldToEventLoop();
        continue;
      }
      this.receivedSinceSleep = false;
      await this.waitForWrite(word, remainingMs);
    }
  }

  /** Waits until the write-position word differs from `word`, or `timeoutMs` passed. */
  private async waitForWrite(word: number, timeoutMs: number): Promise<void> {
    const { header } = this.views;

    // Set before Atomics.waitAsync compares the word, which pairs with the
    // producer's store-then-load so that a record sent now always wakes this wait.
    Atomics.store(header, CONSUMER_SLEEPING_INDEX, 1);
    // Node 20 does not count a pending Atomics.waitAsync as work that keeps the
    // event loop alive (https://github.com/nodejs/node/issues/61941), so a thread
    // with nothing else to do would exit mid-wait. This ref'd timer keeps it alive
    // and ends the wait at the deadline even if V8's own timeout task runs late.
    const keepAlive = setTimeout(() => Atomics.notify(header, WRITE_INDEX), Math.ceil(timeoutMs));
    try {
      const result = Atomics.waitAsync(header, WRITE_INDEX, word, timeoutMs);
      if (result.async) await result.value;
    } finally {
      clearTimeout(keepAlive);
      Atomics.store(header, CONSUMER_SLEEPING_INDEX, 0);
    }
  }
}
