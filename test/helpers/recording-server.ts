import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the server received it. */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Body bytes received so far; the whole body once `complete` is true. */
  body: Buffer;
  /** SHA-256 of `body`, set when the body ended or the client went away. */
  sha256: string;
  /** True when the body arrived whole; false when the client aborted it (or it is still arriving). */
  complete: boolean;
}

/**
 * Scripted response to one request:
 * - `presign-ok`: 200 with `{ key, uploadUrl, expiresIn, maxSize }`, uploadUrl pointing back at this server;
 * - `put-ok`: 200 to an upload;
 * - `status`: any status, with an optional JSON or text body and headers (such as Retry-After);
 * - `hang`: read the body and never respond;
 * - `malformed-json`: 200 with a body that is not JSON;
 * - `large-body`: 200 with a body of `bytes` bytes;
 * - `redirect`: a 3xx to `location`;
 * - `custom`: the test writes the response itself.
 */
export type Reply =
  | { kind: 'presign-ok'; maxSize?: number; expiresIn?: number; headers?: Record<string, string>; uploadUrl?: string }
  | { kind: 'put-ok' }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'malformed-json' }
  | { kind: 'large-body'; bytes: number }
  | { kind: 'redirect'; status?: number; location: string }
  | { kind: 'custom'; handle: (request: RecordedRequest, response: ServerResponse) => void | Promise<void> };

/** `presign` is POST /telemetry/runner-log/presign, `put` is PUT /uploads/..., `other` is the rest. */
export type Route = 'presign' | 'put' | 'other';

export const PRESIGN_PATH = '/telemetry/runner-log/presign';
export const DEFAULT_MAX_SIZE = 50 * 1024 * 1024;

function routeOf(request: IncomingMessage): Route {
  const path = (request.url ?? '').split('?')[0];
  if (request.method === 'POST' && path === PRESIGN_PATH) return 'presign';
  if (request.method === 'PUT' && path.startsWith('/uploads/')) return 'put';
  return 'other';
}

/**
 * A real HTTP server on 127.0.0.1 that records every request and replies as
 * scripted: one reply per request, in order, per route. When the script of a
 * route is empty it sends the default: a valid presign, 200 to each upload, 404 elsewhere.
 */
export class RecordingServer {
  readonly requests: RecordedRequest[] = [];
  /** TCP connections accepted, to prove that a mode opened none. */
  connections = 0;
  private readonly scripts: Record<Route, Reply[]> = { presign: [], put: [], other: [] };
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];
  private uploads = 0;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  /** Starts a server on a free port of 127.0.0.1. */
  static async start(): Promise<RecordingServer> {
    let recording: RecordingServer | undefined;
    const server = http.createServer((request, response) => {
      void recording!.handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    recording = new RecordingServer(server, `http://127.0.0.1:${port}`);
    server.on('connection', () => {
      recording!.connections += 1;
    });
    return recording;
  }

  /** Queues replies for the next requests of a route. */
  script(route: Route, ...replies: Reply[]): this {
    this.scripts[route].push(...replies);
    return this;
  }

  presigns(): RecordedRequest[] {
    return this.requests.filter((request) => request.method === 'POST' && request.url.split('?')[0] === PRESIGN_PATH);
  }

  puts(): RecordedRequest[] {
    return this.requests.filter((request) => request.method === 'PUT');
  }

  /** Returns the parsed JSON bodies of the presign requests, in order. */
  presignBodies(): Array<{ sha256: string; size: number; metadata: Record<string, unknown> }> {
    return this.presigns().map((request) => JSON.parse(request.body.toString('utf8')) as { sha256: string; size: number; metadata: Record<string, unknown> });
  }

  /** Resolves once `count` requests have been received (their bodies may still be arriving). Uses no timer. */
  waitForRequests(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** Stops listening and cuts every open connection, including those of hanging replies. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const recorded: RecordedRequest = {
      method: request.method ?? '',
      url: request.url ?? '',
      headers: request.headers,
      body: Buffer.alloc(0),
      sha256: '',
      complete: false,
    };
    this.requests.push(recorded);
    for (const waiter of this.waiters.filter((candidate) => this.requests.length >= candidate.count)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }

    response.on('error', () => undefined);
    const complete = await readBody(request, recorded);
    if (!complete) return;

    const route = routeOf(request);
    const reply = this.scripts[route].shift() ?? this.defaultReply(route);
    await this.respond(reply, recorded, response);
  }

  private defaultReply(route: Route): Reply {
    if (route === 'presign') return { kind: 'presign-ok' };
    if (route === 'put') return { kind: 'put-ok' };
    return { kind: 'status', status: 404, body: { error: 'not found' } };
  }

  private async respond(reply: Reply, recorded: RecordedRequest, response: ServerResponse): Promise<void> {
    switch (reply.kind) {
      case 'presign-ok': {
        const announced = JSON.parse(recorded.body.toString('utf8')) as { sha256: string };
        this.uploads += 1;
        sendJson(response, 200, {
          key: `runner_log/${announced.sha256.slice(0, 2)}/${announced.sha256}.stderr.log`,
          uploadUrl: reply.uploadUrl ?? `${this.url}/uploads/${this.uploads}?X-Signature=secret-signature-${this.uploads}`,
          expiresIn: reply.expiresIn ?? 300,
          maxSize: reply.maxSize ?? DEFAULT_MAX_SIZE,
          ...(reply.headers === undefined ? {} : { headers: reply.headers }),
        });
        return;
      }
      case 'put-ok':
        sendJson(response, 200, { ok: true });
        return;
      case 'status':
        if (typeof reply.body === 'string') {
          response.writeHead(reply.status, { 'Content-Type': 'text/plain', ...reply.headers });
          response.end(reply.body);
        } else {
          sendJson(response, reply.status, reply.body ?? { error: `status ${reply.status}` }, reply.headers);
        }
        return;
      case 'hang':
        return;
      case 'malformed-json':
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end('<html>Sign in to the network</html>');
        return;
      case 'large-body': {
        response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(reply.bytes) });
        response.end(Buffer.alloc(reply.bytes, 0x61));
        return;
      }
      case 'redirect':
        response.writeHead(reply.status ?? 307, { Location: reply.location });
        response.end();
        return;
      case 'custom':
        await reply.handle(recorded, response);
        return;
    }
  }
}

/** Reads the body into `recorded`; resolves true when it ended, false when the client went away first. */
function readBody(request: IncomingMessage, recorded: RecordedRequest): Promise<boolean> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    let settled = false;
    const finish = (complete: boolean) => {
      if (settled) return;
      settled = true;
      recorded.body = Buffer.concat(chunks);
      recorded.sha256 = hash.digest('hex');
      recorded.complete = complete;
      resolve(complete);
    };
    request.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      hash.update(chunk);
    });
    request.on('end', () => finish(true));
    request.on('aborted', () => finish(false));
    request.on('error', () => finish(false));
    request.on('close', () => finish(request.complete));
  });
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  response.end(text);
}

/** Returns the URL of a port on 127.0.0.1 where nothing listens, so a connection is refused. */
export async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
