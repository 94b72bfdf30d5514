import type { NodeAPI } from 'node-red';
import type { BrokerUser, TenantBrokerNode } from './node-types';

/** The client id of what flows publish: webhooks' X-MQTT-Client-Id, tenant-in's msg.clientid. */
export const FLOW_CLIENT_ID = 'node-red';

/**
 * The tenant-broker a node is configured with, registered so it receives the
 * broker's state for `tenant` (blank or `*`: every tenant); or null after
 * reporting a missing broker (error and red ring, as core nodes do for
 * missing configuration).
 */
export function useBroker(RED: NodeAPI, node: BrokerUser, brokerId: string, type: string, tenant?: string): TenantBrokerNode | null {
  node.tenantScope = tenant;
  const broker = RED.nodes.getNode(brokerId) as TenantBrokerNode | null;
  if (!broker) {
    const text = RED._(`${type}.errors.missing-broker`);
    node.error(text);
    node.status({ fill: 'red', shape: 'ring', text });
    return null;
  }
  broker.register(node);
  return broker;
}
