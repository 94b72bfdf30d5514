import type { NodeAPI } from 'node-red';
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  AUTH_DEFAULTS,
  BROKER_DEFAULTS,
  BrokerHost,
  HTTP_AUTH_DEFAULTS,
  LIMIT_FIELDS,
  MAX_JWT_CLOCK_TOLERANCE_SECONDS,
  portSetting as port,
  REGISTRY_WEBHOOK_PREFIX,
  TenantBrokerError,
  wholeSetting as whole,
  type AuthSettings,
  type BrokerHostOptions,
  type ProviderConfig,
  type WebhookHealthChange,
} from '../src';
import { withDefaults } from './shared/defaults';
import { registerTenantRoutes } from './shared/admin-routes';
import { describeError } from './shared/i18n';
import type { BrokerUser, TenantBrokerCredentials, TenantBrokerNode, TenantBrokerNodeDef } from './shared/node-types';
import { brokerStatus, type BrokerState } from './shared/status';

// Node-RED gives a node 15 s to close; the engine must be gone well before.
const CLOSE_TIMEOUT_MS = 10_000;

// how long an engine error stays on the node's status before the client count returns
const ERROR_STATUS_MS = 10_000;

// client churn can be fast (thousands of connects a second): the client counts on the
// nodes' statuses follow it at most once per this interval (trailing edge)
const CLIENT_STATUS_MS = 300;
const PROVIDER_KINDS = ['jwt', 'http', 'flow'] as const;

/**
 * The provider chain the node's Authentication tab describes, asked after the
 * registry in `authOrder`: JWT only when a key is given, HTTP only when a URL
 * is, the flow always (it answers "not mine" while no tenant-auth node is
 * deployed). Relative file paths are relative to the user directory.
 * Throws a translated sentence for a setting that cannot work.
 */
function authSettings(RED: NodeAPI, config: TenantBrokerNodeDef, credentials: TenantBrokerCredentials | undefined, userDir: string): AuthSettings {
  const order = String(config.authOrder ?? '')
    .split(',')
    .map((kind) => kind.trim().toLowerCase())
    .filter(Boolean);
  if (order.some((kind) => !(PROVIDER_KINDS as readonly string[]).includes(kind)) || new Set(order).size !== order.length) {
    throw new Error(RED._('tenant-broker.errors.auth-order', { value: String(config.authOrder) }));
  }
  const text = (value: unknown) => String(value ?? '').trim();
  const file = (value: unknown) => (text(value) ? resolve(userDir, text(value)) : undefined);
  const providers: ProviderConfig[] = [];
  for (const kind of order) {
    if (kind === 'jwt') {
      const secret = credentials?.jwtSecret || undefined;
      const publicKey = text(config.jwtPublicKey) || undefined;
      const jwksFile = file(config.jwtJwksFile);
      if (!secret && !publicKey && !jwksFile) continue;
      providers.push({
        kind,
        secret,
        secretEncoding: config.jwtSecretEncoding === 'base64' ? 'base64' : 'utf8',
        publicKey,
        jwksFile,
        issuer: text(config.jwtIssuer) || undefined,
        audience: text(config.jwtAudience) || undefined,
        tenantClaim: text(config.jwtTenantClaim) || 'tenant',
        aclClaim: text(config.jwtAclClaim) || 'acl',
        usernameClaim: text(config.jwtUsernameClaim) || undefined,
        clockToleranceSeconds: whole(config.jwtClockTolerance, MAX_JWT_CLOCK_TOLERANCE_SECONDS, 'JWT clock tolerance (0-5 s)', MAX_JWT_CLOCK_TOLERANCE_SECONDS),
      });
    } else if (kind === 'http') {
      const url = text(config.httpAuthUrl);
      if (!url) continue;
      let headers: Record<string, string> | undefined;
      const rawHeaders = text(credentials?.httpAuthHeaders);
      if (rawHeaders) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(rawHeaders);
        } catch {
          parsed = null;
        }
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
          throw new Error(RED._('tenant-broker.errors.auth-headers'));
        }
        headers = parsed as Record<string, string>;
      }
      const caFile = file(config.httpAuthCaFile);
      let ca: string | undefined;
      if (caFile) {
        try {
          ca = readFileSync(caFile, 'utf8');
        } catch (err) {
          throw new Error(RED._('tenant-broker.errors.auth-ca', { path: caFile, reason: (err as Error).message }));
        }
      }
      providers.push({
        kind,
        url,
        headers,
        ca,
        timeoutMs: whole(config.httpAuthTimeout, HTTP_AUTH_DEFAULTS.timeoutMs, 'auth service timeout') || HTTP_AUTH_DEFAULTS.timeoutMs,
        maxConcurrent: Math.max(1, whole(config.httpAuthMaxConcurrent, HTTP_AUTH_DEFAULTS.maxConcurrent, 'number of auth service requests')),
      });
    } else {
      providers.push({ kind: 'flow' });
    }
  }
  return {
    providers,
    cacheTtlMs: whole(config.authCacheTtl, AUTH_DEFAULTS.cacheTtlMs, 'allow cache time'),
    allowSuperuser: config.allowSuperuser === true,
  };
}

/** Why the broker did not start; a bad JWT key says which and why (the catalog's text is generic). */
function startFailure(RED: NodeAPI, err: unknown): string {
  const reason = describeError(RED, err);
  return err instanceof TenantBrokerError && err.key === 'errors.jwt-key' && err.message !== reason ? `${reason}: ${err.message}` : reason;
}

export default function (RED: NodeAPI): void {
  registerTenantRoutes(RED);

  function TenantBroker(this: TenantBrokerNode, saved: TenantBrokerNodeDef) {
    RED.nodes.createNode(this, saved);
    const config = withDefaults('tenant-broker', saved);
    const node = this;
    const users = new Set<BrokerUser>();
    let host: BrokerHost | null = null;
    let statusTimer: NodeJS.Timeout | null = null;
    // registry webhooks failing now, and their tenants (flow webhooks show it on their own node)
    const failingWebhooks = new Map<string, string | null>();
    let errorShown: NodeJS.Timeout | null = null;

    const setState = (state: BrokerState) => {
      if (state.kind !== 'listening' && statusTimer) {
        clearTimeout(statusTimer);
        statusTimer = null;
      }
      node.state = state;
      for (const user of users) tellUser(user, state);
    };
    const showClients = () => {
      statusTimer = null;
      if (!host?.running || errorShown) return;
      for (const id of failingWebhooks.keys()) if (!host.webhooks.has(id)) failingWebhooks.delete(id);
      setState({ kind: 'listening', clients: host.connectionCounts(), failingWebhooks: [...failingWebhooks.values()] });
    };
    // client counts: once per CLIENT_STATUS_MS at most, after the churn; `now` for a change a user must see at once
    const refreshClients = (now = false) => {
      if (errorShown) return;
      if (now) {
        if (statusTimer) clearTimeout(statusTimer);
        showClients();
        return;
      }
      if (statusTimer) return;
      statusTimer = setTimeout(showClients, CLIENT_STATUS_MS);
      statusTimer.unref();
    };
    const onClients = () => refreshClients();
    // once when a registry webhook starts failing and once when it recovers, however many deliveries fail
    const onWebhookHealth = (change: WebhookHealthChange) => {
      if (!change.webhookId.startsWith(REGISTRY_WEBHOOK_PREFIX)) return;
      const params = { id: change.webhookId.slice(REGISTRY_WEBHOOK_PREFIX.length), tenant: change.tenant ?? '*', target: change.target, error: change.error ?? '', failed: String(change.failed) };
      if (change.state === 'failing') failingWebhooks.set(change.webhookId, change.tenant);
      else failingWebhooks.delete(change.webhookId);
      node.warn(RED._(`tenant-broker.warn.webhook-${change.state}`, params));
      refreshClients(true);
    };

    node.state = { kind: 'starting' };
    // what each user shows now, so that an update that changes nothing on it is not sent to the editor
    const shown = new Map<BrokerUser, string>();
    // a user with its own status (tenant-webhook) takes the state itself
    const tellUser = (user: BrokerUser, state: BrokerState) => {
      if (user.onBrokerState) return user.onBrokerState(state);
      const status = brokerStatus(RED, state, user.tenantScope);
      const key = `${status.fill}\u0000${status.shape}\u0000${status.text}`;
      if (shown.get(user) === key) return;
      shown.set(user, key);
      user.status(status);
    };
    node.register = (user) => {
      users.add(user);
      shown.delete(user);
      tellUser(user, node.state);
    };
    node.deregister = (user) => {
      users.delete(user);
      shown.delete(user);
    };

    node.ready = (async () => {
      const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
      const database = config.database?.trim() || BROKER_DEFAULTS.database;
      const credentials = node.credentials as TenantBrokerCredentials | undefined;
      const tls = config.tls
        ? {
            keyFile: config.keyFile,
            certFile: config.certFile,
            caFile: config.caFile || undefined,
            requireClientCert: Boolean(config.requireClientCert),
            crlFile: config.crlFile || undefined,
            certificateIdentity: config.certificateIdentity || 'none',
          }
        : undefined;
      const options: BrokerHostOptions = {
        mqtt: { port: port(config.tcpPort, BROKER_DEFAULTS.mqtt.port), host: config.tcpHost || BROKER_DEFAULTS.mqtt.host, tls },
        ws: config.wsEnabled === false ? false : { port: port(config.wsPort, BROKER_DEFAULTS.ws.port), host: config.wsHost || config.tcpHost || BROKER_DEFAULTS.ws.host, path: config.wsPath || BROKER_DEFAULTS.ws.path, tls },
        database: database === ':memory:' || isAbsolute(database) ? database : join(userDir, database),
        rootPassword: credentials?.rootPassword,
        auth: authSettings(RED, config, credentials, userDir),
        defaults: {
          isolation: config.defaultIsolation || 'prefix',
          maxConnections: whole(config.defaultMaxConnections, 0, 'connection limit'),
          maxMsgsPerSec: whole(config.defaultMaxMsgsPerSec, 0, 'message rate'),
          maxTenantMsgsPerSec: whole(config.defaultMaxTenantMsgsPerSec, 0, 'message rate'),
          maxPayloadBytes: whole(config.defaultMaxPayloadBytes, 0, 'payload size'),
          maxQos: whole(config.defaultMaxQos, 2, 'QoS', 2) as 0 | 1 | 2,
          allowRetain: config.defaultAllowRetain !== false,
          maxSubscriptions: whole(config.defaultMaxSubscriptions, BROKER_DEFAULTS.tenantLimits.maxSubscriptions, 'subscription limit'),
          maxQueuedMessages: whole(config.defaultMaxQueuedMessages, BROKER_DEFAULTS.tenantLimits.maxQueuedMessages, 'queue size'),
          maxQueuedBytes: whole(config.defaultMaxQueuedBytes, BROKER_DEFAULTS.tenantLimits.maxQueuedBytes, 'queue size'),
          maxRetainedMessages: whole(config.defaultMaxRetainedMessages, BROKER_DEFAULTS.tenantLimits.maxRetainedMessages, 'retained quota'),
          maxRetainedBytes: whole(config.defaultMaxRetainedBytes, BROKER_DEFAULTS.tenantLimits.maxRetainedBytes, 'retained quota'),
        },
        maxPacketBytes: whole(config.maxPacketBytes, BROKER_DEFAULTS.maxPacketBytes, 'packet size') || undefined,
        persistence: config.persistence === 'memory' ? 'memory' : 'sqlite',
        maxOfflinePerClient: whole(config.maxOfflinePerClient, BROKER_DEFAULTS.maxOfflinePerClient, 'queue size'),
        maxOfflinePerTenant: whole(config.maxOfflinePerTenant, BROKER_DEFAULTS.maxOfflinePerTenant, 'queue size'),
        maxQueuedBytesPerTenant: whole(config.maxQueuedBytesPerTenant, BROKER_DEFAULTS.maxQueuedBytesPerTenant, 'queue size'),
        sessionExpiryMs: whole(config.sessionExpiry, BROKER_DEFAULTS.sessionExpirySeconds, 'session expiry') * 1000,
        // Node-RED stops on SIGHUP (red.js); a listener of ours would only add a reload before that, and where
        // Node-RED is embedded without one it would stop SIGHUP from ending the process. The registry's watch
        // (on by default) picks up outside edits instead.
        reloadOnSighup: false,
        httpPublish: config.httpPublish === true ? { corsOrigins: String(config.httpCorsOrigins ?? '').split(',').map((o) => o.trim()).filter(Boolean) } : false,
      };
      host = new BrokerHost(options);
      host.on('client-connected', onClients);
      host.on('client-disconnected', onClients);
      host.on('engine-error', (err) => {
        const reason = describeError(RED, err);
        node.error(RED._('tenant-broker.errors.engine', { reason }));
        // the broker is still serving: the count comes back after a while
        setState({ kind: 'error', reason });
        if (errorShown) clearTimeout(errorShown);
        errorShown = setTimeout(() => {
          errorShown = null;
          refreshClients(true);
        }, ERROR_STATUS_MS);
      });
      // the broker's state is unknown: replace it (same ports, same registry) rather than go on with it
      host.on('engine-failed', (err) => {
        const running = host!;
        node.error(RED._('tenant-broker.errors.restarting', { reason: describeError(RED, err) }));
        setState({ kind: 'starting' });
        running.restart().then(
          () => refreshClients(true),
          (restartError: unknown) => {
            const reason = describeError(RED, restartError);
            node.error(RED._('tenant-broker.errors.restart-failed', { reason }));
            setState({ kind: 'error', reason });
          },
        );
      });
      host.webhooks.on('health', onWebhookHealth);
      const addresses = await host.start();
      const where = [addresses.mqtt && `mqtt ${addresses.mqtt.address}:${addresses.mqtt.port}`, addresses.ws && `ws ${addresses.ws.address}:${addresses.ws.port}${addresses.ws.path}`];
      node.log(RED._('tenant-broker.log.listening', { addresses: where.filter(Boolean).join(', ') }));
      setState({ kind: 'listening', clients: new Map(), failingWebhooks: [] });
      return host;
    })();
    node.ready.catch((err: unknown) => {
      const reason = startFailure(RED, err);
      node.error(RED._('tenant-broker.errors.start-failed', { reason }));
      setState({ kind: 'error', reason });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (errorShown) clearTimeout(errorShown);
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = null;
      const closing = node.ready.then(
        (running) => running.close(),
        () => host?.close(),
      );
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref());
      Promise.race([closing, timeout])
        .catch((err: unknown) => node.warn(describeError(RED, err)))
        .finally(() => {
          setState({ kind: 'closed' });
          users.clear();
          shown.clear();
          done();
        });
    });
  }

  RED.nodes.registerType('tenant-broker', TenantBroker as never, {
    // the auth service's headers often hold its token: kept with the credentials, shown in the dialog
    credentials: { rootPassword: { type: 'password' }, jwtSecret: { type: 'password' }, httpAuthHeaders: { type: 'text' } },
    // the Tenants sidebar builds its tenant form from the limits the engine declares
    settings: {
      tenantBrokerLimitFields: { value: LIMIT_FIELDS.map(({ column, kind, fallback, choices }) => ({ column, kind, fallback, choices })), exportable: true },
    },
  });
}
