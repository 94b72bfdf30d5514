import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One request as the sink received it. */
export interface SinkRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Names as sent on the wire, alternating with values. */
  rawHeaders: string[];
  body: Buffer;
  /** `performance.now()` when the request's headers arrived. */
  receivedAt: number;
  /** Position among all requests this sink received, from 0. */
  index: number;
}

/** How to answer; `hang` never answers, `destroy` cuts the connection. */
export type SinkReply =
  | { status: number; headers?: Record<string, string>; body?: string | Buffer }
  | 'hang'
  | 'destroy';

/** Decides each reply; may return a promise to hold the request open. */
export type SinkScript = (req: SinkRequest) => SinkReply | Promise<SinkReply>;

interface Waiter {
  count: number;
  resolve: (requests: SinkRequest[]) => void;
}

const OK: SinkReply = { status: 200, body: 'ok' };

/** A real HTTP server on 127.0.0.1:0 that records every request. */
export class HttpSink {
  readonly requests: SinkRequest[] = [];
  script: SinkScript;
  private waiters: Waiter[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    script: SinkScript,
    private readonly scheme: 'http' | 'https',
  ) {
    this.script = script;
  }

  /** Starts on 127.0.0.1:0; with `tls` (PEM key and certificate) it serves https. */
  static async start(script: SinkScript = () => OK, tls?: { key: Buffer; cert: Buffer }): Promise<HttpSink> {
    let sink: HttpSink | undefined;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const receivedAt = performance.now();
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => sink?.receive(req.method ?? '', req.url ?? '', req.headers, req.rawHeaders, Buffer.concat(chunks), receivedAt, res));
    };
    const server: Server = tls ? createTlsServer(tls, onRequest) : createServer(onRequest);
    server.on('connection', (socket: Socket) => {
      sink?.sockets.add(socket);
      socket.on('close', () => sink?.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    sink = new HttpSink(server, (server.address() as AddressInfo).port, script, tls ? 'https' : 'http');
    return sink;
  }

  url(path = '/'): string {
    return `${this.scheme}://127.0.0.1:${this.port}${path}`;
  }

  /** Resolves once at least `count` requests have arrived. */
  waitFor(count: number): Promise<SinkRequest[]> {
    if (this.requests.length >= count) return Promise.resolve(this.requests.slice());
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** Requests whose path starts with `path`. */
  to(path: string): SinkRequest[] {
    return this.requests.filter((r) => r.url.startsWith(path));
  }

  /** Closes the server and every connection, including ones held by `hang`. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private receive(
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    rawHeaders: string[],
    body: Buffer,
    receivedAt: number,
    res: ServerResponse,
  ): void {
    const request: SinkRequest = { method, url, headers, rawHeaders, body, receivedAt, index: this.requests.length };
    this.requests.push(request);
    this.waiters = this.waiters.filter((w) => {
      if (this.requests.length < w.count) return true;
      w.resolve(this.requests.slice());
      return false;
    });
    void Promise.resolve(this.script(request)).then((reply) => {
      if (reply === 'hang') return;
      if (reply === 'destroy') {
        res.socket?.destroy();
        return;
      }
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
    });
  }
}

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A promise with its resolver, for holding a reply until a test says so. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
