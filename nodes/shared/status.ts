import type { NodeAPI, NodeStatus } from 'node-red';

/** What a tenant-broker config node tells the nodes that use it. */
export type BrokerState =
  | { kind: 'starting' }
  | { kind: 'listening'; clients: number }
  | { kind: 'error'; reason: string }
  | { kind: 'closed' };

const NS = 'node-red-contrib-tenant-broker/tenant-broker:tenant-broker.status.';

export function brokerStatus(RED: NodeAPI, state: BrokerState): NodeStatus {
  switch (state.kind) {
    case 'starting':
      return { fill: 'yellow', shape: 'ring', text: RED._(NS + 'starting') };
    case 'listening':
      return { fill: 'green', shape: 'dot', text: RED._(NS + 'listening', { count: String(state.clients) }) };
    case 'error':
      return { fill: 'red', shape: 'ring', text: state.reason };
    case 'closed':
      return {};
  }
}
