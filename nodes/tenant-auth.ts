import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { FLOW_AUTH_DEFAULTS, wholeSetting, type BrokerHost, type FlowAuthHandler, type FlowAuthProvider, type FlowLoginRequest } from '../src';
import { useBroker } from './shared/broker-user';
import { withDefaults } from './shared/defaults';
import { describeError } from './shared/i18n';
import type { BrokerUser, TenantAuthNodeDef } from './shared/node-types';
import { brokerStatus } from './shared/status';

/** The message property that pairs the flow's answer with its login. */
export const LOGIN_ID_PROPERTY = '_loginId';

/** Answers that came after their login was decided are told apart from strangers for this many ids. */
const REMEMBERED_IDS = 1000;

type AuthNode = Node & BrokerUser & { takeOver?(): void };

/**
 * The tenant-auth nodes of each broker, in the order they were deployed: the
 * first decides logins, the others wait (error status) and the next takes
 * over when it closes.
 */
const claims = new WeakMap<FlowAuthProvider, AuthNode[]>();

export default function (RED: NodeAPI): void {
  function TenantAuth(this: AuthNode, saved: TenantAuthNodeDef) {
    RED.nodes.createNode(this, saved);
    const config = withDefaults('tenant-auth', saved);
    const node = this;
    let closed = false;
    let provider: FlowAuthProvider | null = null;
    let handler: FlowAuthHandler | null = null;
    // logins out in the flow: id -> timer that forgets it once the broker stopped waiting
    const waiting = new Map<string, NodeJS.Timeout>();
    // ids whose login was decided without this node's answer (timed out): a late answer is told so
    const expired = new Set<string>();
    let answered = 0;
    let unanswered = 0;
    let statusQueued = false;
    let timeoutMs: number = FLOW_AUTH_DEFAULTS.timeoutMs;

    node.onBrokerState = (state) => {
      if (state.kind === 'error') node.status(brokerStatus(RED, state));
    };
    const broker = useBroker(RED, node, config.broker, 'tenant-auth');
    if (!broker) return;

    // a login flood must not become a flood of status messages: one per tick
    const showStatus = () => {
      if (statusQueued || closed) return;
      statusQueued = true;
      setImmediate(() => {
        statusQueued = false;
        if (closed || !handler) return;
        const params = { answered: String(answered), waiting: String(waiting.size), unanswered: String(unanswered) };
        node.status({ fill: 'green', shape: waiting.size > 0 ? 'ring' : 'dot', text: RED._(unanswered > 0 ? 'tenant-auth.status.with-unanswered' : 'tenant-auth.status.summary', params) });
      });
    };

    const forget = (id: string, timedOut: boolean) => {
      const timer = waiting.get(id);
      if (timer === undefined) return;
      clearTimeout(timer);
      waiting.delete(id);
      if (!timedOut) return;
      unanswered++;
      expired.add(id);
      if (expired.size > REMEMBERED_IDS) expired.delete(expired.values().next().value!);
    };

    /** Becomes the node that decides the broker's logins. */
    const activate = () => {
      if (closed || !provider) return;
      handler = {
        timeoutMs,
        ask(request: FlowLoginRequest) {
          const { id, attempt } = request;
          // the broker's own timer decides; this one only tidies the status
          const timer = setTimeout(() => {
            forget(id, true);
            showStatus();
          }, timeoutMs);
          timer.unref?.();
          waiting.set(id, timer);
          // the password goes to the flow as a Buffer; this node never logs it
          const msg = {
            [LOGIN_ID_PROPERTY]: id,
            topic: attempt.username,
            payload: { username: attempt.username, password: attempt.password, clientid: attempt.clientId, peerhost: attempt.peerhost ?? null, transport: attempt.transport, protocol: attempt.protocol },
          };
          node.send(msg as unknown as NodeMessage);
          showStatus();
        },
      };
      provider.setHandler(handler);
      showStatus();
    };
    node.takeOver = activate;

    broker.ready.then(
      (host: BrokerHost) => {
        if (closed) return;
        try {
          timeoutMs = wholeSetting(config.timeout, FLOW_AUTH_DEFAULTS.timeoutMs, 'timeout') || FLOW_AUTH_DEFAULTS.timeoutMs;
        } catch (err) {
          const reason = describeError(RED, err);
          node.error(RED._('tenant-auth.errors.setup-failed', { reason }));
          node.status({ fill: 'red', shape: 'ring', text: reason });
          return;
        }
        provider = host.flowAuth;
        const nodes = claims.get(provider) ?? [];
        claims.set(provider, nodes);
        nodes.push(node);
        if (nodes[0] === node) return activate();
        const other = nodes[0].name || nodes[0].id;
        node.error(RED._('tenant-auth.errors.second-node', { other }));
        node.status({ fill: 'red', shape: 'ring', text: RED._('tenant-auth.status.second-node', { other }) });
      },
      () => undefined, // the broker's own error shows through onBrokerState
    );

    node.on('input', (msg: NodeMessageInFlow & Record<string, unknown>, _send, done) => {
      const id = msg[LOGIN_ID_PROPERTY];
      if (typeof id !== 'string' || id === '') {
        node.warn(RED._('tenant-auth.warn.no-login-id', { property: LOGIN_ID_PROPERTY }));
        return done();
      }
      const outcome = provider ? provider.answer(id, msg.payload) : { matched: false };
      if (!outcome.matched) {
        const late = expired.has(id) || waiting.has(id);
        forget(id, waiting.has(id));
        showStatus();
        node.warn(RED._(late ? 'tenant-auth.warn.late' : 'tenant-auth.warn.unmatched', { id }));
        return done();
      }
      forget(id, false);
      answered++;
      showStatus();
      // a malformed answer refuses the login (CONNACK 5); a catch node sees why
      if (outcome.problem) return done(new Error(RED._('tenant-auth.errors.malformed', { reason: outcome.problem })));
      done();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      broker.deregister(node);
      for (const timer of waiting.values()) clearTimeout(timer);
      waiting.clear();
      if (provider) {
        // logins asked while this node was deciding time out in the broker (refused); new ones are "not mine"
        if (handler) provider.setHandler(null, handler);
        const nodes = claims.get(provider) ?? [];
        const wasFirst = nodes[0] === node;
        const left = nodes.filter((n) => n !== node);
        if (left.length) claims.set(provider, left);
        else claims.delete(provider);
        if (wasFirst) left[0]?.takeOver?.();
      }
      done();
    });
  }

  RED.nodes.registerType('tenant-auth', TenantAuth as never);
}
