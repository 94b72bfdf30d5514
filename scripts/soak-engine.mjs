// The engine alone, for scripts/soak.mjs: the built BrokerHost with SQLite
// persistence in a temp registry, one prefix tenant `soak` (password `soak-pw`),
// MQTT on a free loopback port. Tells its parent {event: 'ready', port} and
// closes when the parent goes away.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { BrokerHost } = require(join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'dist', 'src', 'index.js'));
const [database] = process.argv.slice(2);

const host = new BrokerHost({ mqtt: { port: 0, host: '127.0.0.1' }, ws: false, database, reloadOnSighup: false });
host.on('engine-error', (err) => console.error('engine-error:', err.message));
if (!host.registry.getTenant('soak')) await host.registry.addTenant({ username: 'soak', password: 'soak-pw', isolation: 'prefix' });
const addresses = await host.start();
process.on('disconnect', () => void host.close().finally(() => process.exit(0)));
process.send({ event: 'ready', port: addresses.mqtt.port });
