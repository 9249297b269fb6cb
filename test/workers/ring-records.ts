/**
 * Test records for the ring: record `index` starts with its index as a
 * little-endian u32, and every later byte is derived from the index and the
 * byte's place, so a lost, repeated, reordered or cut record shows up.
 */

/** Smallest record that carries its index. */
export const MIN_TEST_RECORD_BYTES = 4;

/** Returns the length of record `index` for a plan that cycles through `sizes`. */
export function recordLength(sizes: readonly number[], index: number): number {
  return sizes[index % sizes.length]!;
}

/** Returns record `index`, `length` bytes long (at least MIN_TEST_RECORD_BYTES). */
export function makeRecord(index: number, length: number): Uint8Array {
  const record = new Uint8Array(length);
  new DataView(record.buffer).setUint32(0, index, true);
  for (let i = MIN_TEST_RECORD_BYTES; i < length; i++) {
    record[i] = (index * 31 + i) & 0xff;
  }
  return record;
}

/** Returns why `record` is not record `index` of `length` bytes, or undefined when it is. */
export function describeMismatch(record: Uint8Array, index: number, length: number): string | undefined {
  if (record.length !== length) {
    return `record ${index}: ${record.length} bytes, expected ${length}`;
  }
  const found = new DataView(record.buffer, record.byteOffset, record.byteLength).getUint32(0, true);
  if (found !== index) {
    return `record ${index}: carries index ${found}`;
  }
  for (let i = MIN_TEST_RECORD_BYTES; i < length; i++) {
    if (record[i] !== ((index * 31 + i) & 0xff)) {
      return `record ${index}: byte ${i} is ${record[i]}, expected ${(index * 31 + i) & 0xff}`;
    }
  }
  return undefined;
}
