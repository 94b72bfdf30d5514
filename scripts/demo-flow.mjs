// The `npm start` demo's flow and tenants, shared by scripts/start.mjs and the
// tests that check the examples import and deploy next to the demo.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The demo's broker: the same id as every example's, so that imported examples use it. */
export const DEMO_BROKER_ID = 'tb-broker';

export const DEMO_TENANTS = [
  { username: 'tenant1', password: 'secret', isolation: 'prefix' },
  { username: 'tenant2', password: 'secret2', isolation: 'mountpoint' },
];

/**
 * The getting-started example with ids of its own (so that every example,
 * 01 included, imports next to it without a conflict but the shared broker),
 * ports from the environment (Node-RED substitutes ${VAR}) and the admin API.
 */
export function demoFlow(project) {
  const example = JSON.parse(readFileSync(join(project, 'examples', '01 Getting started.json'), 'utf8'));
  const id = (old) => (old === DEMO_BROKER_ID ? old : `demo-${old}`);
  const flow = example.map((node) => ({
    ...node,
    id: id(node.id),
    ...(node.z ? { z: id(node.z) } : {}),
    ...(node.wires ? { wires: node.wires.map((port) => port.map(id)) } : {}),
  }));
  const tab = flow.find((node) => node.type === 'tab');
  tab.label = 'Demo';
  for (const node of flow) {
    if (node.type === 'tenant-broker') Object.assign(node, { tcpPort: '${MQTT_PORT}', wsPort: '${MQTT_WS_PORT}', tcpHost: '127.0.0.1' });
  }
  // the management API (curl http://localhost:$ADMIN_PORT/internal/tenants), its audit events to the debug sidebar
  flow.push(
    { id: 'demo-admin', type: 'tenant-admin', z: tab.id, name: '', broker: DEMO_BROKER_ID, host: '127.0.0.1', port: '${ADMIN_PORT}', x: 150, y: 300, wires: [['demo-audit']] },
    { id: 'demo-audit', type: 'debug', z: tab.id, name: 'audit events', active: true, tosidebar: true, console: false, tostatus: true, complete: 'true', targetType: 'full', statusVal: 'topic', statusType: 'msg', x: 450, y: 300, wires: [] },
  );
  return flow;
}

/** Adds the demo tenants to a registry (`Registry` from dist/src). */
export async function addDemoTenants(Registry, database) {
  const registry = new Registry({ path: database });
  try {
    for (const tenant of DEMO_TENANTS) await registry.addTenant(tenant);
  } finally {
    registry.close();
  }
}
