import type { AddressInfo } from 'node:net';
import type { AuditCounters } from '../audit/audit-log';
import type { AuthSettings } from '../auth/chain-config';
import type { LoginSettings } from '../defaults';
import type { Registry, TenantDefaults } from '../registry/registry';
import type { WatchRegistry } from '../registry/reload';
import type { DispatcherOptions, WebhookCounters } from '../webhooks/types';
import type { FabricOptions } from './fabric';
import type { TlsFiles } from './listeners';
import type { ConnectionLimitOptions } from './pending';
import type { TrafficFigures } from './traffic';

export interface BrokerHostOptions extends FabricOptions, ConnectionLimitOptions {
  /** MQTT over TCP (or TLS); `false` disables it. Defaults: port 1883 on 0.0.0.0. */
  mqtt?: { port?: number; host?: string; tls?: TlsFiles } | false;
  /** MQTT over WebSocket; `false` disables it. Defaults: port 4035 on 0.0.0.0, path /ws. */
  ws?: { port?: number; host?: string; path?: string; tls?: TlsFiles } | false;
  /** The registry file (':memory:' for tests), or a Registry the caller owns and closes. */
  database: string | Registry;
  /** root's password; without one root cannot log in. */
  rootPassword?: string;
  /** Isolation style and limits for tenants created without them. */
  defaults?: TenantDefaults;
  statsFlushIntervalMs?: number;
  /** Options of the webhook dispatcher (backoff, TLS trust for https targets). */
  webhooks?: DispatcherOptions;
  /**
   * Inbound QoS 2 messages one client may hold unreleased (PUBREC sent, no
   * PUBREL yet; each is kept whole until then). Past it the client is
   * disconnected and counted as `inflight-overflow`. Default 100; 0: no limit.
   */
  maxInflightInbound?: number;
  /**
   * Notice commits other processes make to the registry file (the sqlite3
   * shell) and apply them within a poll interval, with no request: true
   * (default, every second), `{ intervalMs }`, or false. Only for a registry this host opens;
   * a Registry passed in has its own option.
   */
  watchRegistry?: WatchRegistry;
  /**
   * Re-read the registry file on SIGHUP. Default true, for standalone use; a
   * listener replaces Node's default (exit) on SIGHUP, so embedders with their
   * own meaning for it (Node-RED stops on SIGHUP) set false.
   */
  reloadOnSighup?: boolean;
  /**
   * The HTTP publish adapter (`POST /publish/<topic>` on the WebSocket
   * listener's port): off by default; `corsOrigins` lists the browser origins
   * it answers preflights for (default none).
   */
  httpPublish?: boolean | { corsOrigins?: string[] };
  /**
   * After a restart, how long a client whose will was kept has to reconnect
   * before that will is published. Default 30 s.
   */
  willGraceMs?: number;
  /** Failed-login throttle and password hashing (BROKER_DEFAULTS.login; hashing only for a registry this host opens). */
  login?: Partial<LoginSettings>;
  /** Authentication providers after the registry (JWT, an HTTP service, a flow), the allow cache, superusers. */
  auth?: AuthSettings;
}

export interface BoundAddresses {
  mqtt?: AddressInfo & { tls: boolean };
  ws?: AddressInfo & { path: string; tls: boolean };
}

/** Everything `GET /internal/stats` and `/metrics` report. */
export interface BrokerStats {
  uptimeSeconds: number;
  connections: number;
  total: TrafficFigures;
  tenants: Record<string, TrafficFigures & { connections: number; offlineDropped: number }>;
  webhooks: Record<string, WebhookCounters>;
  /** Connections not yet accepted (before CONNACK) and the memory they are charged with. */
  unauthenticated: { connections: number; bytes: number };
  /** The store's figures (memory or SQLite); null for a persistence passed in. */
  persistence: { store: 'sqlite' | 'memory'; retained: number; subscriptions: number; queued: number; offlineDropped: number; sessionsExpired: number } | null;
  /** What the audit trail did not keep: entries dropped, pruned to a bound, or added to an earlier one. */
  audit: AuditCounters;
  /** Logins answered per provider (`registry`, `jwt`, `http`, `flow`) and result (`allow`, `deny`, `ignore`, `failure`, `cached`). */
  auth: Array<{ provider: string; result: string; count: number }>;
}
