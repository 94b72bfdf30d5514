import { Pool } from 'undici';
import { TenantBrokerError } from '../errors';
import { parseAnswer, type ProviderAnswer } from '../tenancy/providers';
import { LoginSlots } from './login-slots';
import { ProviderFailure, type AuthProvider, type LoginAttempt } from './provider';

export interface HttpAuthOptions {
  /** The service: `http(s)://host[:port]/path`. */
  url: string;
  /** Extra request headers (e.g. an Authorization for the service). */
  headers?: Record<string, string>;
  /** Per request: no answer within it is a provider failure. Default 5000 ms. */
  timeoutMs?: number;
  /** Requests at once; logins beyond wait for a turn (up to the timeout), then are refused. Default 16. */
  maxConcurrent?: number;
  /** Logins waiting for a turn; past it a login is refused at once. Default 1000. */
  maxWaiting?: number;
  /** PEM CA certificate(s) an HTTPS service's certificate must chain to (default: Node's trusted CAs). */
  ca?: string;
}

export const HTTP_AUTH_DEFAULTS = { timeoutMs: 5000, maxConcurrent: 16, maxWaiting: 1000 };
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Asks an HTTP service, as EMQX's HTTP authentication does: POST
 * `{"username","password","clientid","peerhost","protocol","transport"}`;
 * a 200 with `{"result":"allow"|"deny"|"ignore","tenant","device"?,
 * "is_superuser"?,"acl"?}` decides, anything else (another status, a
 * malformed body, a timeout, a refused connection) is a provider failure.
 * Requests go over one keep-alive pool, at most `maxConcurrent` at a time.
 */
export class HttpAuthProvider implements AuthProvider {
  readonly name = 'http' as const;
  readonly mayGrantSuperuser = true;
  readonly remote = true;
  private readonly url: URL;
  private readonly pool: Pool;
  private readonly slots: LoginSlots;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  /** Requests sent since start (the bench counts them). */
  requests = 0;

  constructor(options: HttpAuthOptions) {
    try {
      this.url = new URL(options.url);
    } catch {
      throw new TenantBrokerError(`the auth service URL ${JSON.stringify(options.url)} is not a URL`, 'errors.auth-url', { url: options.url });
    }
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new TenantBrokerError('the auth service URL must be http: or https:', 'errors.auth-url', { url: options.url });
    this.timeoutMs = options.timeoutMs ?? HTTP_AUTH_DEFAULTS.timeoutMs;
    const concurrency = Math.max(1, options.maxConcurrent ?? HTTP_AUTH_DEFAULTS.maxConcurrent);
    this.slots = new LoginSlots(concurrency, options.maxWaiting ?? HTTP_AUTH_DEFAULTS.maxWaiting);
    this.headers = { ...(options.headers ?? {}), 'content-type': 'application/json', accept: 'application/json' };
    this.pool = new Pool(this.url.origin, {
      connections: concurrency,
      pipelining: 1,
      connect: { timeout: this.timeoutMs, ...(options.ca ? { ca: options.ca } : {}) },
    });
  }

  async authenticate(attempt: LoginAttempt): Promise<ProviderAnswer> {
    const started = Date.now();
    const release = await this.slots.take(this.timeoutMs);
    if (!release) throw new ProviderFailure('http', 'too many logins waiting for the auth service');
    try {
      const left = Math.max(1, this.timeoutMs - (Date.now() - started));
      const body = JSON.stringify({
        username: attempt.username,
        password: attempt.password.toString('utf8'),
        clientid: attempt.clientId,
        peerhost: attempt.peerhost ?? null,
        protocol: attempt.protocol,
        transport: attempt.transport,
      });
      this.requests++;
      let status: number;
      let text: string;
      try {
        const res = await this.pool.request({
          method: 'POST',
          path: this.url.pathname + this.url.search,
          headers: this.headers,
          body,
          headersTimeout: left,
          bodyTimeout: left,
          signal: AbortSignal.timeout(left),
        });
        status = res.statusCode;
        text = await readLimited(res.body, MAX_ANSWER_BYTES);
      } catch (err) {
        throw new ProviderFailure('http', (err as Error).name === 'TimeoutError' || (err as { code?: string }).code?.includes('TIMEOUT') ? `no answer within ${this.timeoutMs} ms` : (err as Error).message);
      }
      if (status !== 200) throw new ProviderFailure('http', `the service answered ${status}`);
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new ProviderFailure('http', 'the answer is not JSON');
      }
      const answer = parseAnswer(raw);
      if ('problem' in answer) throw new ProviderFailure('http', answer.problem);
      return answer;
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
  }
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy?: (err?: Error) => void }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy?.();
      throw new Error(`the answer is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
