/**
 * The upload a benchmark baseline makes by hand, with node:http and no
 * library: a presign POST, then a PUT of a file streamed with an exact
 * Content-Length, both to a collector on 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';

/** Read size of the baseline's hash, the same as the uploader's hash task. */
const HASH_READ_BYTES = 1024 * 1024;

export interface PresignedUpload {
  key: string;
  uploadUrl: string;
}

/** Hashes a file with createHash over a read stream; returns the hex SHA-256. */
export async function sha256OfFile(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath, { highWaterMark: HASH_READ_BYTES })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** POSTs a presign request and returns the upload URL. Throws with the status and body on anything but 200. */
export async function presign(collectorUrl: string, body: { sha256: string; size: number; metadata?: Record<string, unknown> }): Promise<PresignedUpload> {
  const payload = Buffer.from(JSON.stringify(body));
  const { status, text } = await request(new URL('/telemetry/runner-log/presign', collectorUrl), 'POST', {
    'Content-Type': 'application/json',
    'Content-Length': String(payload.length),
  }, (outgoing) => outgoing.end(payload));
  if (status !== 200) throw new Error(`presign returned HTTP ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as PresignedUpload;
}

/** PUTs `size` bytes of a file to `uploadUrl`, streamed. Throws with the status and body on anything but 200. */
export async function putFile(uploadUrl: string, filePath: string, size: number): Promise<void> {
  const { status, text } = await request(new URL(uploadUrl), 'PUT', {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(size),
  }, (outgoing) => {
    pipeline(createReadStream(filePath, { highWaterMark: 256 * 1024 }), outgoing).catch((error: unknown) => outgoing.destroy(error as Error));
  });
  if (status !== 200) throw new Error(`upload returned HTTP ${status}: ${text.slice(0, 300)}`);
}

/** Returns how many reports the collector lists, up to 1000. */
export async function countStoredReports(collectorUrl: string): Promise<number> {
  const { status, text } = await request(new URL('/telemetry/runner-log?limit=1000', collectorUrl), 'GET', {}, (outgoing) => outgoing.end());
  if (status !== 200) throw new Error(`listing returned HTTP ${status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { reports: unknown[] }).reports.length;
}

function request(
  url: URL,
  method: string,
  headers: Record<string, string>,
  send: (outgoing: http.ClientRequest) => void,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(url, { method, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    send(outgoing);
  });
}
