import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { BrokerHost } from '../broker/broker-host';
import { ADMIN_DEFAULTS } from '../defaults';
import { TenantBrokerError } from '../errors';
import { AdminRoutes, type AdminResponse } from './routes';

export interface AdminServerOptions {
  /** Default 127.0.0.1. Anything but loopback needs a token. */
  host?: string;
  /** Default 4036; 0 picks a free port. */
  port?: number;
  /** With a token, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Larger bodies get 413. Default 64 KiB. */
  maxBodyBytes?: number;
}



/** True for names and addresses that never leave the machine. */
export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (net.isIPv4(name)) return name.startsWith('127.');
  if (net.isIPv6(name)) return name === '::1' || /^::ffff:127\./.test(name);
  return false;
}

// Both sides are hashed first so that neither the comparison time nor an early length check tells how close a guess was.
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function hostnameOf(hostHeader: string): string {
  const bracketed = /^\[([^\]]*)\]/.exec(hostHeader);
  if (bracketed) return bracketed[1];
  return hostHeader.replace(/:[0-9]*$/, '');
}

const errorBody = (error: string) => ({ status: 'error', error });

/**
 * The management API on its own HTTP listener (node:http, no framework):
 * authentication, body size and the transport live here, everything else in
 * AdminRoutes.
 */
export class AdminServer {
  readonly routes: AdminRoutes;
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly host: string;
  private readonly port: number;
  private readonly token: string | undefined;
  private readonly maxBodyBytes: number;
  private starting: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(broker: BrokerHost, options: AdminServerOptions = {}) {
    this.routes = new AdminRoutes(broker);
    this.host = options.host?.trim() || ADMIN_DEFAULTS.host;
    this.port = options.port ?? ADMIN_DEFAULTS.port;
    this.token = options.token ? options.token : undefined;
    this.maxBodyBytes = options.maxBodyBytes ?? ADMIN_DEFAULTS.maxBodyBytes;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    // a client that trickles its headers or body must not hold a socket for minutes
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // not even a request line to route: still answered in the API's error shape
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (!socket.writable) return socket.destroy();
      const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? ['431 Request Header Fields Too Large', 'the request headers are too large'] : ['400 Bad Request', 'the request is not valid HTTP'];
      const body = JSON.stringify(errorBody(text));
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
  }

  /** Resolves with the address bound (port 0 resolved); refuses a non-loopback host without a token. */
  start(): Promise<AddressInfo> {
    if (!this.token && !isLoopbackHost(this.host)) {
      return Promise.reject(
        new TenantBrokerError(`the admin API listens on ${this.host} only with a token: set one, or bind 127.0.0.1`, 'errors.admin-token-required', { host: this.host }, 'invalid'),
      );
    }
    const started = new Promise<AddressInfo>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const key = err.code === 'EADDRINUSE' ? 'errors.port-in-use' : err.code === 'EACCES' ? 'errors.port-denied' : 'errors.listen';
        reject(new TenantBrokerError(`admin API cannot listen on ${this.host}:${this.port}: ${err.message}`, key, { port: this.port, host: this.host, reason: err.message }, 'unavailable'));
      };
      this.server.once('error', onError);
      this.server.listen({ port: this.port, host: this.host }, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
    this.starting = started.catch(() => undefined);
    return started;
  }

  /** Resolves once the port is released; open connections are cut rather than waited for. */
  close(): Promise<void> {
    // a close during start must not leave the port bound once listen() completes
    this.closing ??= this.starting.then(
      () =>
        new Promise<void>((resolve) => {
          if (!this.server.listening) {
            for (const socket of this.sockets) socket.destroy();
            resolve();
            return;
          }
          this.server.close(() => resolve());
          for (const socket of this.sockets) socket.destroy();
        }),
    );
    return this.closing;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const refusal = this.refusal(req);
    if (refusal) {
      req.resume();
      this.send(res, refusal);
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (declared > this.maxBodyBytes) {
      this.tooLarge(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    req.on('data', (chunk: Buffer) => {
      if (overflow) return;
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        overflow = true;
        chunks.length = 0;
        this.tooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (overflow) return;
      this.routes
        .handle({ method: req.method ?? 'GET', url: req.url ?? '/', body: Buffer.concat(chunks) })
        .then((response) => this.send(res, response))
        .catch((err: unknown) => this.send(res, { status: 500, json: errorBody(err instanceof Error ? err.message : String(err)) }));
    });
  }

  /** Why a request is refused before its body is read, or null. */
  private refusal(req: IncomingMessage): AdminResponse | null {
    if (this.token) {
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
      if (match && sameSecret(match[1], this.token)) return null;
      return { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="tenant-broker"' }, json: errorBody('a valid Authorization: Bearer <token> header is required') };
    }
    // Without a token, loopback is the only protection. A web page can still
    // POST to 127.0.0.1 (bodies are JSON whatever their Content-Type) or rebind
    // a DNS name to it; browsers mark the first with Origin, the second with
    // its own Host name. Neither comes from curl or scripts.
    if (req.headers.origin !== undefined) return { status: 403, json: errorBody('requests from a web page (with an Origin header) need a token') };
    const hostHeader = req.headers.host;
    if (hostHeader !== undefined) {
      const name = hostnameOf(hostHeader);
      if (!isLoopbackHost(name) && net.isIP(name) === 0) return { status: 403, json: errorBody(`host ${JSON.stringify(name)} is not this machine; use localhost or an IP address`) };
    }
    return null;
  }

  private tooLarge(req: IncomingMessage, res: ServerResponse): void {
    // the rest of the body is read and discarded so the client gets the answer instead of a reset
    req.resume();
    this.send(res, { status: 413, headers: { Connection: 'close' }, json: errorBody(`the request body is larger than ${this.maxBodyBytes} bytes`) });
  }

  private send(res: ServerResponse, response: AdminResponse): void {
    if (res.headersSent || res.destroyed) return;
    const isJson = 'json' in response;
    const body = isJson ? JSON.stringify(response.json) : response.text;
    res.writeHead(response.status, {
      'Content-Type': isJson ? 'application/json; charset=utf-8' : response.contentType,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...response.headers,
    });
    res.end(body);
  }
}
