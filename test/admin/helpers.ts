import http, { type IncomingHttpHeaders } from 'node:http';
import { AdminServer, type AdminServerOptions, type BrokerHostOptions } from '../../src';
import { startEngine, type RunningEngine } from '../helpers/engine';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: Record<string, any>;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is, without JSON encoding. */
  raw?: string | Buffer;
  headers?: Record<string, string>;
  token?: string;
}

/** One real HTTP request over a fresh connection (no keep-alive between tests). */
export function request(port: number, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  if (payload !== undefined && headers['Content-Type'] === undefined) headers['Content-Type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: Record<string, any>;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined as unknown as Record<string, any>;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface RunningAdmin {
  engine: RunningEngine;
  server: AdminServer;
  port: number;
  get(path: string, options?: RequestOptions): Promise<Reply>;
  post(path: string, body?: unknown, options?: RequestOptions): Promise<Reply>;
  stop(): Promise<void>;
}

/** A real engine (tenants acme/prefix and globex/mountpoint) with the admin API on 127.0.0.1:0. */
export async function startAdmin(options: AdminServerOptions = {}, engineOptions: Partial<BrokerHostOptions> = {}): Promise<RunningAdmin> {
  const engine = await startEngine(engineOptions);
  const server = new AdminServer(engine.host, { host: '127.0.0.1', port: 0, ...options });
  const { port } = await server.start();
  const token = options.token;
  return {
    engine,
    server,
    port,
    get: (path, extra = {}) => request(port, 'GET', path, { token, ...extra }),
    post: (path, body, extra = {}) => request(port, 'POST', path, { token, body, ...extra }),
    async stop() {
      await server.close();
      await engine.stop();
    },
  };
}
