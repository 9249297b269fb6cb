/**
 * Memory layout of the submission ring: a single-producer, single-consumer
 * queue of byte records in one SharedArrayBuffer, shared by the main thread
 * (producer) and the uploader thread (consumer).
 *
 * ```
 * bytes 0..63     line 0: constants, written once by createRingBuffer
 * bytes 64..127   line 1: written only by the producer (write position, its counters)
 * bytes 128..191  line 2: written only by the consumer (read position, received)
 * bytes 192..255  line 3: the consumer's sleeping flag
 * bytes 256..     capacity slots of slotBytes each: [u32 record length][payload]
 * ```
 *
 * A cache line written by one thread and read by the other moves between
 * cores on each write, which costs more than the rest of a send. So each
 * thread writes only its own lines, each side reads the other's position only
 * when its cached copy says the ring is full (producer) or empty (consumer),
 * and the sleeping flag, which the producer reads on every send, sits alone on
 * a line that changes only when the consumer falls asleep or wakes.
 */

/** Bytes per cache line on x86-64 and most arm64 cores; the unit of the header's split by writer. */
const CACHE_LINE_BYTES = 64;

/** Header word that identifies a ring buffer of this layout version ("RNG1"), checked on attach. */
export const RING_MAGIC = 0x524e4731;

// Int32 indices into the header (byte offset / 4).

/** RING_MAGIC. Written once at creation so attaching to a foreign buffer fails loudly. */
export const MAGIC_INDEX = 0;
/** Capacity in records, 1 to 65536. Written once at creation. */
export const CAPACITY_INDEX = 1;
/** Maximum payload bytes per record. Written once at creation. */
export const MAX_RECORD_BYTES_INDEX = 2;
/** Distance in bytes between two slots (length word plus payload, rounded up to 8). Written once. */
export const SLOT_BYTES_INDEX = 3;

/**
 * Next position the producer fills, modulo 2 × capacity, OR-ed with CLOSED_FLAG
 * once the producer closed. Written only by the producer, with Atomics.store
 * after the slot's bytes, which publishes them. The consumer waits on this word,
 * which is why the closed flag lives in it: closing changes the value a waiting
 * consumer compares against, so no wake-up can be missed between check and wait.
 */
export const WRITE_INDEX = CACHE_LINE_BYTES / 4;

/**
 * Next position the consumer takes, modulo 2 × capacity. Written only by the
 * consumer, with Atomics.store after it copied the slot out, which hands the
 * slot back to the producer.
 */
export const READ_INDEX = (2 * CACHE_LINE_BYTES) / 4;
/**
 * 1 while the consumer sleeps in Atomics.waitAsync and no producer has woken
 * it yet, else 0. The consumer sets it before it waits and clears it after. The
 * producer notifies only when it can swap it from 1 to 0, which keeps the
 * notify off the send path while the consumer is awake, and makes a burst of
 * sends during the consumer's wake-up notify once.
 */
export const CONSUMER_SLEEPING_INDEX = (3 * CACHE_LINE_BYTES) / 4;

/**
 * Set in the WRITE_INDEX word by RingProducer.close(). Positions stay below
 * 2 × 65536 = 2^17, so bit 30 never collides with one.
 */
export const CLOSED_FLAG = 1 << 30;
/** Masks the position out of the WRITE_INDEX word. */
export const POSITION_MASK = CLOSED_FLAG - 1;

// BigInt64 indices into the header (byte offset / 8). Counters are 64-bit because a
// 32-bit count would wrap after 2^31 sends, minutes at benchmark rates, while 2^63
// does not wrap in any process lifetime. Each counter has one writer thread, and
// Atomics on BigInt64Array give the other thread an untorn value.

/** Records published. Written by the producer, on its own line. */
export const SENT_COUNTER = (CACHE_LINE_BYTES + 8) / 8;
/** Records dropped because every slot was taken. Written by the producer. */
export const DROPPED_FULL_COUNTER = SENT_COUNTER + 1;
/** Records rejected because they exceed the maximum record size (never cut). Written by the producer. */
export const REJECTED_TOO_LARGE_COUNTER = SENT_COUNTER + 2;
/** Records rejected as invalid: not a Uint8Array, or an encoder that threw or returned an impossible length. Written by the producer. */
export const REJECTED_INVALID_COUNTER = SENT_COUNTER + 3;
/** Records dropped because the producer was already closed. Written by the producer. */
export const DROPPED_CLOSED_COUNTER = SENT_COUNTER + 4;
/** Highest number of records ever waiting in the ring at once. Written by the producer after each send. */
export const HIGH_WATER_COUNTER = SENT_COUNTER + 5;
/** Records taken out by the consumer. Written by the consumer, on its own line. */
export const RECEIVED_COUNTER = (2 * CACHE_LINE_BYTES + 8) / 8;

/** Bytes before the first slot: four cache lines. */
export const HEADER_BYTES = 4 * CACHE_LINE_BYTES;
/** Bytes of the length word at the start of each slot. */
export const RECORD_LENGTH_BYTES = 4;

/** Largest `--telemetry-channel-capacity`: keeps positions below 2^17 and the buffer at most 256 MiB by default. */
export const MAX_RING_CAPACITY = 65_536;
/** Largest record payload accepted by createRingBuffer (1 MiB). */
export const MAX_RECORD_BYTES_LIMIT = 1 << 20;

/** Typed views over one ring buffer, made once per producer or consumer. */
export interface RingViews {
  buffer: SharedArrayBuffer;
  header: Int32Array;
  counters: BigInt64Array;
  bytes: Uint8Array;
  /** The whole buffer as u32 words; a slot's length word is at (slot offset) / 4. */
  words: Uint32Array;
  capacity: number;
  maxRecordBytes: number;
  slotBytes: number;
}

/** Returns the byte distance between slots for a payload limit: the length word, the payload, rounded up to 8. */
export function slotBytesFor(maxRecordBytes: number): number {
  return Math.ceil((RECORD_LENGTH_BYTES + maxRecordBytes) / 8) * 8;
}

/**
 * Returns the views over a buffer made by createRingBuffer. Throws a TypeError
 * when the value is not such a buffer, because a producer and a consumer that
 * disagree on the layout would corrupt each other's records.
 */
export function attachRing(buffer: SharedArrayBuffer): RingViews {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEADER_BYTES) {
    throw new TypeError('invalid ring buffer: expected the SharedArrayBuffer returned by createRingBuffer()');
  }
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  if (Atomics.load(header, MAGIC_INDEX) !== RING_MAGIC) {
    throw new TypeError('invalid ring buffer: its header does not start with the ring marker; create it with createRingBuffer()');
  }

  const capacity = Atomics.load(header, CAPACITY_INDEX);
  const maxRecordBytes = Atomics.load(header, MAX_RECORD_BYTES_INDEX);
  const slotBytes = Atomics.load(header, SLOT_BYTES_INDEX);
  if (buffer.byteLength !== HEADER_BYTES + capacity * slotBytes) {
    throw new TypeError(
      `invalid ring buffer: ${buffer.byteLength} bytes, expected ${HEADER_BYTES + capacity * slotBytes} for ${capacity} slots of ${slotBytes} bytes`,
    );
  }

  return {
    buffer,
    header,
    counters: new BigInt64Array(buffer, 0, HEADER_BYTES / 8),
    bytes: new Uint8Array(buffer),
    words: new Uint32Array(buffer),
    capacity,
    maxRecordBytes,
    slotBytes,
  };
}

/** Returns the byte offset of the slot for `position` (0 to 2 × capacity - 1). */
export function slotOffset(views: RingViews, position: number): number {
  // Positions run over 2 × capacity so that a full ring (distance = capacity) and
  // an empty one (distance = 0) differ; both halves map onto the same slots.
  const slot = position < views.capacity ? position : position - views.capacity;
  return HEADER_BYTES + slot * views.slotBytes;
}

/** Returns the position after `position`, wrapping from 2 × capacity - 1 back to 0. */
export function nextPosition(views: RingViews, position: number): number {
  return position + 1 === 2 * views.capacity ? 0 : position + 1;
}

/** Returns how many records sit between the read and write positions (0 to capacity). */
export function ringDepth(views: RingViews, writePosition: number, readPosition: number): number {
  const distance = writePosition - readPosition;
  return distance < 0 ? distance + 2 * views.capacity : distance;
}
