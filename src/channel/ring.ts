/**
 * The submission channel from the main thread to the uploader thread: a
 * bounded single-producer, single-consumer ring of byte records in a
 * SharedArrayBuffer. The buffer goes to the other thread in `workerData`, and
 * each side wraps it in a RingProducer or a RingConsumer. The layout is in
 * layout.ts.
 */
import {
  CAPACITY_INDEX,
  CLOSED_FLAG,
  DROPPED_CLOSED_COUNTER,
  DROPPED_FULL_COUNTER,
  HEADER_BYTES,
  HIGH_WATER_COUNTER,
  MAGIC_INDEX,
  MAX_RECORD_BYTES_INDEX,
  MAX_RECORD_BYTES_LIMIT,
  MAX_RING_CAPACITY,
  POSITION_MASK,
  READ_INDEX,
  RECEIVED_COUNTER,
  RECORD_LENGTH_BYTES,
  REJECTED_INVALID_COUNTER,
  REJECTED_TOO_LARGE_COUNTER,
  RING_MAGIC,
  ringDepth,
  SENT_COUNTER,
  SLOT_BYTES_INDEX,
  slotBytesFor,
  attachRing,
  WRITE_INDEX,
} from './layout.js';

export { DEFAULT_SPIN_BEFORE_WAIT_MS, RingConsumer, type RingConsumerOptions } from './consumer.js';
export { RECORD_TOO_LARGE, RingProducer, type RecordEncoder, type SendStatus } from './producer.js';
export { MAX_RING_CAPACITY } from './layout.js';

/** Default `--telemetry-channel-capacity`, in records. */
export const DEFAULT_RING_CAPACITY = 64;

/** Default maximum record payload in bytes: with the 4-byte length word, a slot is 4 KiB. */
export const MAX_RECORD_BYTES = 4096 - RECORD_LENGTH_BYTES;

/** Code of the error for a `--telemetry-channel-capacity` that is not an integer from 1 to 65536. */
export const ERR_TELEMETRY_CHANNEL_CAPACITY = 'ERR_TELEMETRY_CHANNEL_CAPACITY';
/** Code of the error for a maximum record size that is not an integer from 1 to 1 MiB. */
export const ERR_RING_MAX_RECORD_BYTES = 'ERR_RING_MAX_RECORD_BYTES';

/** A ring size option out of range. `code` names the option, so the CLI can exit 2 with the message. */
export class RingOptionError extends RangeError {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'RingOptionError';
    this.code = code;
  }
}

/**
 * Shared counters of a ring. Each field is read with its own atomic load, so
 * each is exact but they are not taken at one instant: `received + depth` may
 * be below `sent` while a record is in flight, never above it.
 */
export interface RingCounters {
  /** Records accepted into the ring. */
  sent: number;
  /** Records dropped because every slot was taken. */
  droppedFull: number;
  /** Records rejected because they were larger than the maximum record size. */
  rejectedTooLarge: number;
  /** Records rejected as invalid: not a Uint8Array, or an encoder that threw or returned an impossible length. */
  rejectedInvalid: number;
  /** Records dropped because the producer was closed. */
  droppedClosed: number;
  /** Records taken out by the consumer. */
  received: number;
  /** Most records ever waiting at once. */
  highWater: number;
  /** Slots in the ring. */
  capacity: number;
  /** Records waiting now. */
  depth: number;
  /** Whether the producer closed the ring. */
  closed: boolean;
}

/**
 * Creates the shared memory of a ring with `capacity` slots of `maxRecordBytes`
 * payload each. Its size is fixed here: about capacity × 4 KiB by default.
 * Throws a RingOptionError (a RangeError) when an argument is out of range.
 */
export function createRingBuffer(capacity: number, maxRecordBytes: number = MAX_RECORD_BYTES): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_RING_CAPACITY) {
    throw new RingOptionError(
      ERR_TELEMETRY_CHANNEL_CAPACITY,
      `invalid --telemetry-channel-capacity ${String(capacity)}: expected an integer number of records from 1 to ${MAX_RING_CAPACITY}`,
    );
  }
  if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > MAX_RECORD_BYTES_LIMIT) {
    throw new RingOptionError(
      ERR_RING_MAX_RECORD_BYTES,
      `invalid maximum record size ${String(maxRecordBytes)}: expected an integer number of bytes from 1 to ${MAX_RECORD_BYTES_LIMIT}`,
    );
  }

  const slotBytes = slotBytesFor(maxRecordBytes);
  const buffer = new SharedArrayBuffer(HEADER_BYTES + capacity * slotBytes);
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  Atomics.store(header, CAPACITY_INDEX, capacity);
  Atomics.store(header, MAX_RECORD_BYTES_INDEX, maxRecordBytes);
  Atomics.store(header, SLOT_BYTES_INDEX, slotBytes);
  // Written last, because attachRing trusts the other header words once it finds the marker.
  Atomics.store(header, MAGIC_INDEX, RING_MAGIC);
  return buffer;
}

/** Returns a snapshot of a ring's shared counters. Works from any thread that has the buffer. */
export function readRingCounters(buffer: SharedArrayBuffer): RingCounters {
  const views = attachRing(buffer);
  const { header, counters } = views;

  // Loaded in the order opposite to the writes (the consumer stores the read
  // position and then counts, the producer counts and then stores the write
  // position), which keeps received + depth at or below sent.
  const received = Atomics.load(counters, RECEIVED_COUNTER);
  const readPosition = Atomics.load(header, READ_INDEX);
  const word = Atomics.load(header, WRITE_INDEX);
  const sent = Atomics.load(counters, SENT_COUNTER);
  // Both positions moving by more than the capacity between two loads is
  // possible in theory only; the clamp keeps depth within 0..capacity anyway.
  const depth = Math.min(views.capacity, ringDepth(views, word & POSITION_MASK, readPosition));

  // Number() is exact up to 2^53 records, far beyond any process lifetime.
  return {
    sent: Number(sent),
    droppedFull: Number(Atomics.load(counters, DROPPED_FULL_COUNTER)),
    rejectedTooLarge: Number(Atomics.load(counters, REJECTED_TOO_LARGE_COUNTER)),
    rejectedInvalid: Number(Atomics.load(counters, REJECTED_INVALID_COUNTER)),
    droppedClosed: Number(Atomics.load(counters, DROPPED_CLOSED_COUNTER)),
    received: Number(received),
    highWater: Number(Atomics.load(counters, HIGH_WATER_COUNTER)),
    capacity: views.capacity,
    depth,
    closed: (word & CLOSED_FLAG) !== 0,
  };
}
