import type { Aedes, PublishPacket } from 'aedes';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import { REFUSAL_RETURN_CODES, type ClientInfo, type RefusalReason, type Transport } from '../model';
import type { Registry } from '../registry/registry';
import { decidePublish, newClientPolicyState, type ClientPolicyState } from '../tenancy/policy';
import { MAX_THROTTLE_MS, type TenantBuckets } from '../tenancy/rate';
import type { Access } from '../tenancy/rules';
import { publishTopicProblem } from '../tenancy/topics';
import { stampPublisher } from '../aedes-seam';
import { HashingBusy } from '../registry/passwords';
import type { Authenticator, LoginResult } from './authenticator';
import { loginAccess, placeLogin } from './login-placement';
import type { OriginPacket } from './hooks';

export interface HttpPublishOptions {
  /** Origins allowed to publish from a browser (CORS); default none. */
  corsOrigins?: string[];
  /** Largest body accepted (the broker's packet cap applies as well). */
  maxBodyBytes: number;
}

/** The client id an HTTP publish carries (webhooks' X-MQTT-Client-Id, tenant-in's msg.clientid). */
export const HTTP_CLIENT_ID = 'http';
const PATH = '/publish/';
/** Rate state per login: HTTP has no connection to hang a bucket on; bounded. */
const MAX_RATE_STATES = 10_000;

type Answer = { status: number; error?: string; headers?: Record<string, string> };

/**
 * MQTT publishes over plain HTTP: `POST /publish/<topic>` on the WebSocket
 * listener's HTTP server, with the Basic credentials of a tenant login or a
 * device. The topic is in the login's own view, exactly as over MQTT, and
 * passes the policy core's checks for an MQTT publish (rules, limits, message
 * policies, rates). Credentials are checked before the body is read.
 */
export class HttpPublishAdapter {
  private readonly rates = new Map<string, ClientPolicyState>();

  constructor(
    private readonly registry: Registry,
    private readonly events: EventEmitter<EngineEvents>,
    private readonly tenantBuckets: TenantBuckets,
    private readonly aedes: () => Aedes | null,
    private readonly authenticator: Authenticator,
    private readonly options: HttpPublishOptions,
  ) {}

  /**
   * Answers every plain HTTP request of the listener but one for its
   * WebSocket path (which keeps its 426): publishes on /publish/, 404 elsewhere.
   */
  handles(req: IncomingMessage, res: ServerResponse, wsPath: string): boolean {
    const url = req.url ?? '/';
    if (!url.startsWith(PATH)) {
      if (url.split('?')[0] === wsPath) return false;
      this.answer(res, { status: 404, error: `no route ${url.split('?')[0]}; publish with POST ${PATH}<topic>` });
      return true;
    }
    void this.serve(req, res, 'http').catch((err: Error) => {
      this.events.emit('engine-error', err);
      if (!res.headersSent) this.answer(res, { status: 500, error: 'internal error' });
    });
    return true;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, transport: Transport): Promise<void> {
    const origin = req.headers.origin;
    const cors = origin !== undefined && (this.options.corsOrigins ?? []).includes(origin) ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : undefined;
    if (req.method === 'OPTIONS') {
      if (!cors) return this.answer(res, { status: 403, error: 'this origin may not publish' });
      return this.answer(res, { status: 204, headers: { ...cors, 'Access-Control-Allow-Methods': 'POST', 'Access-Control-Allow-Headers': 'Authorization, Content-Type', 'Access-Control-Max-Age': '600' } });
    }
    if (req.method !== 'POST') return this.answer(res, { status: 405, error: `${req.method} is not allowed; use POST`, headers: { Allow: 'POST, OPTIONS' } }, cors);
    // the path as sent: a URL parser would resolve `..` and `%2e%2e` segments before anyone could refuse them
    const [path, query = ''] = req.url!.split('?', 2);
    const search = new URLSearchParams(query);
    let topic: string;
    try {
      topic = path.slice(PATH.length).split('/').map(decodeURIComponent).join('/');
    } catch {
      return this.answer(res, { status: 400, error: 'the topic is not valid percent-encoding' }, cors);
    }
    const problem = publishTopicProblem(topic) ?? (topic.split('/').some((level) => level === '.' || level === '..') ? 'a topic level may not be "." or ".."' : null);
    if (problem) return this.answer(res, { status: 400, error: problem }, cors);
    const qosText = search.get('qos') ?? '0';
    if (qosText !== '0' && qosText !== '1') return this.answer(res, { status: 400, error: 'qos must be 0 or 1' }, cors);
    const retain = search.get('retain') === '1' || search.get('retain') === 'true';

    const credentials = credentialsOf(req.headers.authorization);
    const unauthorized = { status: 401, error: 'wrong or missing credentials', headers: { 'WWW-Authenticate': 'Basic realm="tenant-broker", charset="UTF-8"' } };
    if (!credentials) return this.answer(res, unauthorized, cors);
    const remoteAddress = req.socket.remoteAddress;
    let result: LoginResult;
    try {
      result = await this.authenticator.check({ username: credentials.username, password: Buffer.from(credentials.password, 'utf8'), clientId: HTTP_CLIENT_ID, peerhost: remoteAddress, protocol: 'http', transport });
    } catch (err) {
      if (!(err instanceof HashingBusy)) throw err;
      return this.answer(res, { status: 503, error: 'too many logins of this username wait; try again', headers: { 'Retry-After': '1' } }, cors);
    }
    const refused = (reason: RefusalReason, provider?: string) => {
      if (reason === 'bad-credentials' || reason === 'provider-denied') this.authenticator.failed(credentials.username, remoteAddress);
      this.events.emit('connection-refused', { username: credentials.username, clientId: HTTP_CLIENT_ID, transport, remoteAddress, reason, returnCode: REFUSAL_RETURN_CODES[reason], ...(provider ? { provider } : {}) });
      if (reason === 'bad-credentials') return this.answer(res, unauthorized, cors);
      if (reason === 'login-throttled') return this.answer(res, { status: 429, error: 'too many failed logins lately; try again later', headers: { 'Retry-After': '60' } }, cors);
      return this.answer(res, { status: 403, error: `refused: ${reason}` }, cors);
    };
    if (result.kind === 'refused') return refused(result.reason, result.provider);
    // root publishes over MQTT or a flow: a leaked root password (or a superuser answer) must not also open this door
    const placed = placeLogin(this.registry, result, { username: credentials.username, clientId: HTTP_CLIENT_ID, rootEnabled: false, allowSuperuser: false, liveConnections: () => 0, liveLoginConnections: () => 0 });
    if (placed.verdict.kind === 'refuse') return refused(placed.verdict.reason, result.kind === 'provider' ? result.provider : undefined);
    const scope = placed.verdict.scope;
    const tenant = scope.kind === 'tenant' ? this.registry.getTenant(scope.tenant) : undefined;
    if (!tenant) return refused('bad-credentials');
    const login = placed.providerLogin?.login ?? credentials.username;
    const info: ClientInfo = { tenant: tenant.username, username: login, clientId: HTTP_CLIENT_ID, transport, remoteAddress };
    const limit = Math.min(this.options.maxBodyBytes, tenant.maxPayloadBytes > 0 ? tenant.maxPayloadBytes : Infinity);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) return this.answer(res, { status: 413, error: `the body is larger than ${limit} bytes` }, cors);
    const payload = await readBody(req, limit);
    if (payload === null) {
      // the rest of the body is not read: the connection goes once the answer is out
      res.once('finish', () => req.socket.destroy());
      return this.answer(res, { status: 413, error: `the body is larger than ${limit} bytes`, headers: { Connection: 'close' } }, cors);
    }

    const device = placed.device !== null ? this.registry.devices.get(placed.device) : undefined;
    const access: Access | null = loginAccess(this.registry, tenant, device, placed.providerLogin, HTTP_CLIENT_ID);
    const set = this.registry.policies.of(tenant.username);
    const decided = decidePublish(scope, { topic, payloadBytes: payload.length, retain }, tenant, { client: this.rateState(placed.key), tenants: this.tenantBuckets }, access, set ? { set, namespace: tenant.namespace, payload } : undefined);
    if (decided.violations) {
      const action = decided.kind === 'refuse' ? 'close' : decided.kind === 'discard' ? 'drop' : 'detect';
      this.events.emit('policy-violated', { ...info, topic, action, violations: decided.violations });
    }
    if (decided.kind !== 'allow') {
      this.events.emit('publish-denied', { ...info, topic, reason: decided.reason });
      if (decided.kind === 'discard') return this.answer(res, { status: 204 }, cors);
      if (decided.reason === 'rate-limit') return this.answer(res, { status: 429, error: 'over the rate limit', headers: { 'Retry-After': String(Math.ceil(MAX_THROTTLE_MS / 1000)) } }, cors);
      return this.answer(res, { status: 403, error: `denied: ${decided.reason}` }, cors);
    }
    for (const limit of decided.applied) this.events.emit('limit-applied', { ...info, limit });
    if (decided.wait > 0) await new Promise((resolve) => setTimeout(resolve, decided.wait));
    const aedes = this.aedes();
    if (!aedes) return this.answer(res, { status: 503, error: 'the broker is not running' }, cors);
    const packet: OriginPacket = { cmd: 'publish', topic: decided.topic, payload, qos: Number(qosText) as 0 | 1, retain: decided.retain, dup: false, origin: { username: login, clientId: HTTP_CLIENT_ID } };
    stampPublisher(packet as PublishPacket, placed.key);
    await new Promise<void>((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
    this.answer(res, { status: 204 }, cors);
  }

  private rateState(login: string): ClientPolicyState {
    let state = this.rates.get(login);
    if (!state) {
      if (this.rates.size >= MAX_RATE_STATES) this.rates.delete(this.rates.keys().next().value as string);
      this.rates.set(login, (state = newClientPolicyState()));
    }
    return state;
  }

  private answer(res: ServerResponse, answer: Answer, cors?: Record<string, string>): void {
    const headers: Record<string, string> = { ...cors, ...answer.headers };
    if (answer.error === undefined) {
      res.writeHead(answer.status, headers).end();
      return;
    }
    res.writeHead(answer.status, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'error', error: answer.error }));
  }
}

/** HTTP Basic credentials, or a bearer token (a JWT: its username is empty). */
function credentialsOf(header: string | undefined): { username: string; password: string } | null {
  if (header && /^bearer /i.test(header)) {
    const token = header.slice(7).trim();
    return token ? { username: '', password: token } : null;
  }
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon <= 0 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The body, or null as soon as it grows past `limit` (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        req.removeAllListeners('data');
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
