import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { Registry, TenantBrokerError, type TenantChange } from '../../src';
import { MIGRATIONS } from '../../src/registry/schema';
import { tempDir } from '../helpers/tmp';
import { storedTopic } from '../../src/registry/topic-stats';

describe('registry', () => {
  let tmp: ReturnType<typeof tempDir>;
  let registry: Registry;
  beforeEach(() => {
    tmp = tempDir();
    registry = new Registry({ path: tmp.file('registry.db') });
  });
  afterEach(() => {
    registry.close();
    tmp.remove();
  });

  const rejectsWith = (promise: Promise<unknown>, key: string, code?: string) =>
    assert.rejects(promise, (err: TenantBrokerError) => err instanceof TenantBrokerError && err.key === key && (!code || err.code === code));

  it('opens in WAL mode with its migrations recorded', () => {
    assert.equal(registry.db.pragma('journal_mode', { simple: true }), 'wal');
    const versions = registry.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>;
    assert.deepEqual(versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
    // reopening runs nothing twice
    registry.close();
    registry = new Registry({ path: tmp.file('registry.db') });
    assert.equal((registry.db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number }).n, MIGRATIONS.length);
  });

  it('migration 6: tenants that exist keep no queue or retained quota (0); new tenants take the defaults given', async () => {
    registry.close();
    const path = tmp.file('v5.db');
    const db = new BetterSqlite3(path);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of MIGRATIONS.filter((m) => m.version <= 5)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    }
    db.prepare("INSERT INTO tenants (username, password_hash, isolation, created_at, updated_at) VALUES ('old', 'x', 'prefix', 0, 0)").run();
    db.close();
    const quotas = { maxQueuedMessages: 1000, maxQueuedBytes: 64 << 20, maxRetainedMessages: 10_000, maxRetainedBytes: 64 << 20 };
    registry = new Registry({ path, defaults: quotas });
    const old = registry.getTenant('old')!;
    assert.deepEqual([old.maxQueuedMessages, old.maxQueuedBytes, old.maxRetainedMessages, old.maxRetainedBytes], [0, 0, 0, 0]);
    const fresh = await registry.addTenant({ username: 'fresh', password: 'pw' });
    assert.deepEqual([fresh.maxQueuedMessages, fresh.maxQueuedBytes, fresh.maxRetainedMessages, fresh.maxRetainedBytes], [1000, 64 << 20, 10_000, 64 << 20]);
  });

  it('stores salted scrypt hashes, never the password', async () => {
    await registry.addTenant({ username: 'a', password: 'same' });
    await registry.addTenant({ username: 'b', password: 'same' });
    const rows = registry.db.prepare('SELECT password_hash FROM tenants').all() as Array<{ password_hash: string }>;
    assert.match(rows[0].password_hash, /^scrypt\$\d+\$8\$1\$/);
    assert.notEqual(rows[0].password_hash, rows[1].password_hash);
    assert.ok(rows.every((r) => !r.password_hash.includes('same')));
    assert.equal(await registry.verifyPassword('a', 'same'), true);
    assert.equal(await registry.verifyPassword('a', 'other'), false);
    assert.equal(await registry.verifyPassword('nobody', 'same'), false);
  });

  it('pays scrypt once per verified password, and again after a change', async () => {
    await registry.addTenant({ username: 'a', password: 'pw' });
    const before = registry.scryptChecks;
    for (let i = 0; i < 50; i++) assert.equal(await registry.verifyPassword('a', 'pw'), true);
    assert.equal(registry.scryptChecks - before, 1);
    // a wrong password costs its scrypt although 'a' has a verified one: the time tells nothing
    assert.equal(await registry.verifyPassword('a', 'wrong'), false);
    assert.equal(registry.scryptChecks - before, 2);
    await registry.updateTenant('a', { password: 'pw2' });
    assert.equal(await registry.verifyPassword('a', 'pw'), false);
    assert.equal(await registry.verifyPassword('a', 'pw2'), true);
    assert.equal(registry.scryptChecks - before, 4);
  });

  it('shares one scrypt among simultaneous first logins, and keeps wrong passwords apart', async () => {
    await registry.addTenant({ username: 'a', password: 'pw' });
    const before = registry.scryptChecks;
    const results = await Promise.all([...Array.from({ length: 100 }, () => registry.verifyPassword('a', 'pw')), registry.verifyPassword('a', 'bad')]);
    assert.deepEqual(results.filter(Boolean).length, 100);
    assert.equal(results[100], false);
    assert.equal(registry.scryptChecks - before, 2);
  });

  it('refuses bad names, root, duplicates and bad fields with clear errors', async () => {
    await rejectsWith(registry.addTenant({ username: 'root', password: 'x' }), 'errors.bad-tenant-name', 'invalid');
    await rejectsWith(registry.addTenant({ username: 'a/b', password: 'x' }), 'errors.bad-tenant-name');
    await rejectsWith(registry.addTenant({ username: 'ok', password: '' }), 'errors.password-required');
    await rejectsWith(registry.addTenant({ username: 'ok', password: 'x', isolation: 'other' as 'prefix' }), 'errors.bad-isolation');
    await rejectsWith(registry.addTenant({ username: 'ok', password: 'x', maxConnections: -1 }), 'errors.bad-number');
    await registry.addTenant({ username: 'ok', password: 'x' });
    await rejectsWith(registry.addTenant({ username: 'ok', password: 'y' }), 'errors.tenant-exists', 'conflict');
    await rejectsWith(registry.updateTenant('missing', { enabled: false }), 'errors.unknown-tenant', 'not-found');
    assert.throws(() => registry.removeTenant('missing'), (err: TenantBrokerError) => err.code === 'not-found');
  });

  it('loses no update made while another one waits for scrypt', async () => {
    await registry.addTenant({ username: 'a', password: 'x' });
    await Promise.all([registry.updateTenant('a', { password: 'p1' }), registry.updateTenant('a', { maxConnections: 5 }), registry.updateTenant('a', { maxQos: 1 })]);
    const after = registry.getTenant('a')!;
    assert.deepEqual([after.maxConnections, after.maxQos], [5, 1]);
    assert.equal(await registry.verifyPassword('a', 'p1'), true);
  });

  it('shares its audit table with another writer of the same file', async () => {
    const other = new Registry({ path: tmp.file('registry.db') });
    try {
      registry.audit.record(null, 'admin', 'first');
      other.audit.record(null, 'admin', 'second');
      registry.audit.flush();
      other.audit.flush();
      assert.deepEqual(registry.audit.list().map((e) => e.action).slice(0, 2), ['second', 'first']);
    } finally {
      other.close();
    }
  });

  it('uses the configured defaults for new tenants', async () => {
    registry.close();
    registry = new Registry({ path: tmp.file('registry.db'), defaults: { isolation: 'mountpoint', maxConnections: 7 } });
    const t = await registry.addTenant({ username: 'd', password: 'x' });
    assert.deepEqual([t.isolation, t.maxConnections, t.enabled], ['mountpoint', 7, true]);
  });

  it('emits a change for every add, update and remove', async () => {
    const changes: TenantChange[] = [];
    registry.on('tenant-changed', (c) => changes.push(c));
    await registry.addTenant({ username: 'a', password: 'x' });
    await registry.updateTenant('a', { password: 'y' });
    await registry.updateTenant('a', { enabled: false });
    registry.removeTenant('a');
    assert.deepEqual(changes.map((c) => [c.kind, c.passwordChanged]), [
      ['added', false],
      ['updated', true],
      ['updated', false],
      ['removed', false],
    ]);
  });

  it('reload picks up edits made outside the process', async () => {
    registry.close();
    // watching off: the outside edit stays invisible until reload()
    registry = new Registry({ path: tmp.file('registry.db'), watchRegistry: false });
    await registry.addTenant({ username: 'a', password: 'x' });
    const outside = new BetterSqlite3(tmp.file('registry.db'));
    outside.prepare('UPDATE tenants SET enabled = 0 WHERE username = ?').run('a');
    outside.close();
    assert.equal(registry.getTenant('a')?.enabled, true);
    const changes: TenantChange[] = [];
    registry.on('tenant-changed', (c) => changes.push(c));
    registry.reload();
    assert.equal(registry.getTenant('a')?.enabled, false);
    assert.equal(changes[0].kind, 'updated');
  });

  it('stores webhooks inside the tenant namespace only, with http(s) URLs', async () => {
    await registry.addTenant({ username: 't1', password: 'x' });
    const hook = registry.addWebhook({ tenant: 't1', topicFilter: 't1/sensors/+', url: 'http://127.0.0.1:9000/hook' });
    assert.equal(hook.enabled, true);
    assert.throws(() => registry.addWebhook({ tenant: 't1', topicFilter: 't2/#', url: 'http://x' }), (e: TenantBrokerError) => e.key === 'errors.filter-outside-tenant');
    assert.throws(() => registry.addWebhook({ tenant: 't1', topicFilter: '#', url: 'http://x' }), (e: TenantBrokerError) => e.key === 'errors.filter-outside-tenant');
    assert.throws(() => registry.addWebhook({ tenant: 't1', topicFilter: 't1/#', url: 'ftp://x' }), (e: TenantBrokerError) => e.key === 'errors.bad-webhook-url');
    assert.throws(() => registry.addWebhook({ tenant: 'nope', topicFilter: 'nope/#', url: 'http://x' }), (e: TenantBrokerError) => e.code === 'not-found');
    assert.equal(registry.updateWebhook(hook.id, { enabled: false }).enabled, false);
    registry.removeTenant('t1');
    assert.deepEqual(registry.listWebhooks(), []);
  });

  it('keeps the 1,000 busiest topics of a tenant, adds up the rest in one row, and stores long topics cut (finding 9)', async () => {
    await registry.addTenant({ username: 't1', password: 'x' });
    await registry.addTenant({ username: 't2', password: 'x' });
    for (let i = 0; i < 5; i++) registry.stats.record('t2', `t2/quiet/${i}`, 1);
    for (let n = 0; n < 10; n++) for (let i = 0; i < 50; i++) registry.stats.record('t1', `t1/busy/${i}`, 100);
    // 4,000 distinct topics of 60 KB, one message each
    const long = 'x'.repeat(60_000);
    for (let i = 0; i < 4000; i++) registry.stats.record('t1', `t1/${i}/${long}`, 10);
    registry.stats.flush();

    const rows = registry.db.prepare('SELECT COUNT(*) AS n, MAX(LENGTH(CAST(topic AS BLOB))) AS longest, SUM(messages) AS m, SUM(bytes) AS b FROM topic_stats WHERE tenant = ?').get('t1') as { n: number; longest: number; m: number; b: number };
    assert.equal(rows.n, 1000);
    assert.ok(rows.longest <= 256, `a stored topic of ${rows.longest} bytes`);
    const other = registry.stats.other('t1');
    assert.deepEqual({ topics: other.topics, total: rows.m + other.messages, bytes: rows.b + other.bytes }, { topics: 3050, total: 500 + 4000, bytes: 50_000 + 40_000 });
    const listed = registry.stats.forTenant('t1', 10_000);
    assert.equal(listed.length, 1000);
    assert.deepEqual(listed.slice(0, 50).map((t) => t.messages), Array(50).fill(10), 'the busiest topics are kept');
    assert.ok(listed[50].topic.endsWith('\u2026') && listed[50].topic.startsWith('t1/'));
    // another tenant's figures are untouched
    assert.equal(registry.stats.forTenant('t2').length, 5);
    assert.deepEqual(registry.stats.other('t2'), { topics: 0, messages: 0, bytes: 0 });
    // removing the tenant removes its folded row too
    registry.removeTenant('t1');
    assert.deepEqual(registry.stats.other('t1'), { topics: 0, messages: 0, bytes: 0 });
  });

  it('cuts a stored topic at a character boundary', () => {
    const topic = 't1/' + '\u00e9'.repeat(300);
    const stored = storedTopic(topic);
    assert.ok(Buffer.byteLength(stored) <= 256);
    assert.ok(!stored.includes('\uFFFD'));
    assert.equal(storedTopic('t1/short'), 't1/short');
  });

  it('writes topic statistics behind, in batches, and flushes them on close', async () => {
    await registry.addTenant({ username: 't1', password: 'x' });
    const flushesBefore = registry.stats.flushes;
    for (let i = 0; i < 5000; i++) registry.stats.record('t1', `t1/topic/${i % 10}`, 10);
    assert.equal(registry.stats.flushes, flushesBefore, 'no write on the message path');
    assert.equal(registry.stats.forTenant('t1')[0].messages, 500);
    registry.close();
    const db = new BetterSqlite3(tmp.file('registry.db'));
    const row = db.prepare('SELECT SUM(messages) AS m, SUM(bytes) AS b, COUNT(*) AS n FROM topic_stats').get() as { m: number; b: number; n: number };
    db.close();
    assert.deepEqual(row, { m: 5000, b: 50000, n: 10 });
  });
});
