import type { NodeAPI, NodeStatus } from 'node-red';
import { ALL_TENANTS } from '../../src';

/** What a tenant-broker config node tells the nodes that use it. */
export type BrokerState =
  | { kind: 'starting' }
  | {
      kind: 'listening';
      /** Live clients per tenant (tenants without any are absent). */
      clients: ReadonlyMap<string, number>;
      /** The tenants of the registry webhooks failing now; null for a webhook of every tenant. */
      failingWebhooks: ReadonlyArray<string | null>;
    }
  | { kind: 'error'; reason: string }
  | { kind: 'closed' };

const NS = 'node-red-contrib-tenant-broker/tenant-broker:tenant-broker.status.';

/** A tenant a node works in, or every tenant (`*`, or blank for msg.tenant). */
function isAllTenants(tenant: string | undefined): boolean {
  return !tenant || tenant === ALL_TENANTS;
}

/**
 * The broker's state as one node shows it: the clients of the node's tenant
 * (or of every tenant), and a sign while a registry webhook of it is failing.
 */
export function brokerStatus(RED: NodeAPI, state: BrokerState, tenant?: string): NodeStatus {
  switch (state.kind) {
    case 'starting':
      return { fill: 'yellow', shape: 'ring', text: RED._(NS + 'starting') };
    case 'listening': {
      const all = isAllTenants(tenant);
      let count = 0;
      if (all) for (const n of state.clients.values()) count += n;
      else count = state.clients.get(tenant!) ?? 0;
      const text = all ? RED._(NS + 'all', { count: String(count) }) : RED._(NS + 'tenant', { tenant: tenant!, count: String(count) });
      const failing = state.failingWebhooks.filter((owner) => all || owner === null || owner === tenant).length;
      if (failing === 0) return { fill: 'green', shape: 'dot', text };
      return { fill: 'yellow', shape: 'dot', text: RED._(NS + 'webhooks-failing', { status: text, count: String(failing) }) };
    }
    case 'error':
      return { fill: 'red', shape: 'ring', text: state.reason };
    case 'closed':
      return {};
  }
}
