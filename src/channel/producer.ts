import {
  attachRing,
  CLOSED_FLAG,
  CONSUMER_SLEEPING_INDEX,
  DROPPED_CLOSED_COUNTER,
  DROPPED_FULL_COUNTER,
  HIGH_WATER_COUNTER,
  nextPosition,
  READ_INDEX,
  RECORD_LENGTH_BYTES,
  REJECTED_INVALID_COUNTER,
  REJECTED_TOO_LARGE_COUNTER,
  ringDepth,
  SENT_COUNTER,
  slotOffset,
  WRITE_INDEX,
  type RingViews,
} from './layout.js';

/**
 * Outcome of one send. Every call increments exactly one counter: `sent`,
 * `droppedFull`, `rejectedTooLarge`, `rejectedInvalid` or `droppedClosed`.
 */
export type SendStatus = 'sent' | 'full' | 'too-large' | 'invalid' | 'closed';

/** Return value of an encoder passed to trySendWith when the record does not fit in the slot. */
export const RECORD_TOO_LARGE = -1;

/**
 * Writes one record into `slot` (exactly maxRecordBytes long) and returns the
 * number of bytes written, or RECORD_TOO_LARGE when the record does not fit.
 * `view` is a DataView over the same bytes, for fixed-width fields; both are
 * made once per slot and reused. A throw counts as an invalid record, and the
 * slot is not published either way.
 */
export type RecordEncoder = (slot: Uint8Array, view: DataView) => number;

/**
 * The sending end of a ring made by createRingBuffer. One producer per ring at a
 * time. Sending never blocks and never throws: it returns false (or a status)
 * when the record cannot go in, and counts why in the shared counters.
 */
export class RingProducer {
  private readonly views: RingViews;
  /** Payload view of each slot, made on first use and reused, which saves an allocation per send. */
  private readonly payloads: (Uint8Array | undefined)[];
  /** DataView over each payload, made with it. */
  private readonly payloadViews: (DataView | undefined)[];
  /** Copy of the shared high-water mark, so a send writes it only when it rises. */
  private highWater: number;
  /**
   * Last read position loaded from the consumer's line. It can only lag the
   * real one, which makes the ring look fuller than it is, never emptier, so
   * it is reloaded only when the ring looks full or the high-water mark may rise.
   */
  private cachedReadPosition: number;
  /** The record handed to trySend, read by copyPendingRecord. */
  private pendingRecord: Uint8Array | undefined;
  private readonly copyPendingRecord: RecordEncoder = (slot) => {
    const record = this.pendingRecord!;
    slot.set(record);
    return record.length;
  };

  constructor(buffer: SharedArrayBuffer) {
    this.views = attachRing(buffer);
    this.payloads = new Array<Uint8Array | undefined>(this.views.capacity).fill(undefined);
    this.payloadViews = new Array<DataView | undefined>(this.views.capacity).fill(undefined);
    this.highWater = Number(Atomics.load(this.views.counters, HIGH_WATER_COUNTER));
    this.cachedReadPosition = Atomics.load(this.views.header, READ_INDEX);
  }

  get capacity(): number {
    return this.views.capacity;
  }

  /** Largest record in bytes that fits in a slot. */
  get maxRecordBytes(): number {
    return this.views.maxRecordBytes;
  }

  get closed(): boolean {
    return (Atomics.load(this.views.header, WRITE_INDEX) & CLOSED_FLAG) !== 0;
  }

  /**
   * Copies `record` into the next slot. Returns false when the ring is full,
   * the record is larger than maxRecordBytes (rejected whole, never cut), the
   * value is not a Uint8Array, or the producer is closed.
   */
  trySend(record: Uint8Array): boolean {
    if (!(record instanceof Uint8Array)) {
      Atomics.add(this.views.counters, REJECTED_INVALID_COUNTER, 1n);
      return false;
    }
    // Checked before the slot is looked at, so a too-large record counts as
    // rejected even when the ring is also full.
    if (record.length > this.views.maxRecordBytes && !this.closed) {
      Atomics.add(this.views.counters, REJECTED_TOO_LARGE_COUNTER, 1n);
      return false;
    }

    this.pendingRecord = record;
    const status = this.trySendWith(this.copyPendingRecord);
    this.pendingRecord = undefined;
    return status === 'sent';
  }

  /**
   * Lets `encode` write the next record straight into its slot, which saves a
   * copy. Returns 'sent', or why the record was not sent. A too-large record
   * that meets a full ring counts as 'full', because there is no slot to try it in.
   */
  trySendWith(encode: RecordEncoder): SendStatus {
    const { header, counters, capacity, maxRecordBytes } = this.views;

    const word = Atomics.load(header, WRITE_INDEX);
    if ((word & CLOSED_FLAG) !== 0) {
      Atomics.add(counters, DROPPED_CLOSED_COUNTER, 1n);
      return 'closed';
    }
    const writePosition = word;
    let depth = ringDepth(this.views, writePosition, this.cachedReadPosition);
    if (depth >= capacity) {
      depth = this.reloadDepth(writePosition);
      if (depth >= capacity) {
        Atomics.add(counters, DROPPED_FULL_COUNTER, 1n);
        return 'full';
      }
    }

    const offset = slotOffset(this.views, writePosition);
    const slot = writePosition < capacity ? writePosition : writePosition - capacity;
    let length: number;
    try {
      length = encode(this.payloads[slot] ?? this.makePayloadViews(slot, offset), this.payloadViews[slot]!);
    } catch {
      Atomics.add(counters, REJECTED_INVALID_COUNTER, 1n);
      return 'invalid';
    }
    if (length === RECORD_TOO_LARGE) {
      Atomics.add(counters, REJECTED_TOO_LARGE_COUNTER, 1n);
      return 'too-large';
    }
    if (!Number.isInteger(length) || length < 0 || length > maxRecordBytes) {
      Atomics.add(counters, REJECTED_INVALID_COUNTER, 1n);
      return 'invalid';
    }

    // The length is a plain store: the Atomics.store of the write position
    // below publishes it, with the payload, to the consumer's Atomics.load.
    this.views.words[offset / 4] = length;
    // Counted before publishing, so that received never exceeds sent in a snapshot.
    Atomics.add(counters, SENT_COUNTER, 1n);
    const nextWritePosition = nextPosition(this.views, writePosition);
    Atomics.store(header, WRITE_INDEX, nextWritePosition);

    // The depth from a lagging read position can overstate the real one, so a
    // rise is confirmed against the consumer's line before it is recorded. The
    // consumer may already have taken this record, so the depth is measured
    // from the new write position.
    if (depth + 1 > this.highWater) {
      const exactDepth = this.reloadDepth(nextWritePosition);
      if (exactDepth > this.highWater) {
        this.highWater = exactDepth;
        Atomics.store(counters, HIGH_WATER_COUNTER, BigInt(exactDepth));
      }
    }
    // The consumer sets the flag before Atomics.waitAsync compares the write
    // position, and this load follows the store of that position. So either the
    // consumer reads the new position and does not sleep, or this load finds the
    // flag. Only the send that clears the flag calls Atomics.notify, which costs
    // tens of µs when it wakes a thread (see the lone-call figure of bench/submit-cost.ts).
    const consumerSleeping = Atomics.load(header, CONSUMER_SLEEPING_INDEX) === 1;
    if (consumerSleeping && Atomics.compareExchange(header, CONSUMER_SLEEPING_INDEX, 1, 0) === 1) {
      Atomics.notify(header, WRITE_INDEX);
    }
    return 'sent';
  }

  /**
   * Marks the end of the stream. The consumer still receives every record
   * already sent, then gets 'closed'. Later sends return false and count as
   * droppedClosed. Idempotent.
   */
  close(): void {
    const { header } = this.views;
    const word = Atomics.load(header, WRITE_INDEX);
    if ((word & CLOSED_FLAG) !== 0) return;

    Atomics.store(header, WRITE_INDEX, word | CLOSED_FLAG);
    Atomics.notify(header, WRITE_INDEX);
  }

  /** Loads the consumer's read position and returns the number of records between it and `writePosition`. */
  private reloadDepth(writePosition: number): number {
    this.cachedReadPosition = Atomics.load(this.views.header, READ_INDEX);
    return ringDepth(this.views, writePosition, this.cachedReadPosition);
  }

  private makePayloadViews(slot: number, offset: number): Uint8Array {
    const { buffer, maxRecordBytes } = this.views;
    const payload = new Uint8Array(buffer, offset + RECORD_LENGTH_BYTES, maxRecordBytes);
    this.payloads[slot] = payload;
    this.payloadViews[slot] = new DataView(buffer, offset + RECORD_LENGTH_BYTES, maxRecordBytes);
    return payload;
  }
}
