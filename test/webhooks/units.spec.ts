import assert from 'node:assert/strict';
import { backoffDelay, parseRetryAfter, retryDelay } from '../../src/webhooks/retry';
import { sign, signingKey, verifySignature } from '../../src/webhooks/signing';
import { validateWebhookUrl } from '../../src/webhooks/validate';
import { Fifo } from '../../src/webhooks/fifo';

describe('webhooks: signing', () => {
  // The reference vector published with Standard Webhooks (and Svix's libraries).
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const timestamp = 1614265330;
  const body = Buffer.from('{"test": 2432232314}');
  const expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

  it('matches the Standard Webhooks reference signature', () => {
    assert.equal(sign(signingKey(secret), id, timestamp, body), expected);
  });

  it('verifies the reference vector and any one of several signatures', () => {
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,bm90IGl0 ${expected}` };
    assert.equal(verifySignature(secret, body, headers, { nowSeconds: timestamp + 10 }), true);
    assert.equal(verifySignature(secret, body, { ...headers, 'webhook-signature': 'v1,bm90IGl0' }, { nowSeconds: timestamp }), false);
    assert.equal(verifySignature(secret, body, { ...headers, 'webhook-signature': expected.replace('v1', 'v2') }, { nowSeconds: timestamp }), false);
    assert.equal(verifySignature(secret, body, { 'webhook-id': id }, { nowSeconds: timestamp }), false);
    assert.equal(verifySignature(secret, body, headers, { nowSeconds: timestamp - 301 }), false, 'from the future');
  });
});

describe('webhooks: retry timing', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('1', now), 1000);
    assert.equal(parseRetryAfter(['120'], now), 120_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter(undefined, now), null);
  });

  it('backs off exponentially with jitter inside [ceiling/2, ceiling]', () => {
    assert.equal(backoffDelay(1, 100, 10_000, () => 0), 50);
    assert.equal(backoffDelay(1, 100, 10_000, () => 1), 100);
    assert.equal(backoffDelay(4, 100, 10_000, () => 1), 800);
    assert.equal(backoffDelay(30, 100, 10_000, () => 1), 10_000);
  });

  it('waits at least what Retry-After asks, capped', () => {
    const opts = { backoffBaseMs: 10, backoffMaxMs: 20, retryAfterMaxMs: 60_000 };
    assert.ok(retryDelay(1, 1000, opts) === 1000);
    assert.equal(retryDelay(1, 3_600_000, opts), 60_000);
    assert.ok(retryDelay(1, null, opts) <= 10);
  });
});

describe('webhooks: validateWebhookUrl', () => {
  it('accepts http and https', () => {
    assert.equal(validateWebhookUrl('http://127.0.0.1:8080/hook'), null);
    assert.equal(validateWebhookUrl('https://example.com/a?b=c'), null);
  });

  it('explains what is wrong without repeating the URL', () => {
    assert.match(validateWebhookUrl('ftp://example.com/?token=t0k3n') ?? '', /http:\/\/ or https:\/\/, not "ftp:"/);
    assert.ok(!(validateWebhookUrl('ftp://example.com/?token=t0k3n') ?? '').includes('t0k3n'));
    assert.match(validateWebhookUrl('example.com/hook') ?? '', /not a valid absolute URL/);
    assert.match(validateWebhookUrl(42) ?? '', /required/);
  });
});

describe('webhooks: Fifo', () => {
  it('keeps order through compaction', () => {
    const fifo = new Fifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 5000; i++) {
      fifo.push(i);
      if (i % 3 === 0) out.push(fifo.shift() as number);
    }
    while (fifo.length > 0) out.push(fifo.shift() as number);
    assert.deepEqual(out, Array.from({ length: 5000 }, (_, i) => i));
    assert.equal(fifo.shift(), undefined);
  });
});
