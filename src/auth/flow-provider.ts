import { randomUUID } from 'node:crypto';
import { parseAnswer, type ProviderAnswer } from '../tenancy/providers';
import { LoginSlots } from './login-slots';
import { ProviderFailure, type AuthProvider, type LoginAttempt } from './provider';

/** One login as a flow sees it (a `tenant-auth` node's output). */
export interface FlowLoginRequest {
  /** Matches the flow's answer to this login. */
  id: string;
  attempt: LoginAttempt;
}

/** What a flow that decides logins gives the broker: a way to be asked, and how long to wait. */
export interface FlowAuthHandler {
  ask(request: FlowLoginRequest): void;
  timeoutMs: number;
}

export const FLOW_AUTH_DEFAULTS = { timeoutMs: 5000, maxConcurrent: 64, maxWaiting: 1000 };

/**
 * Logins decided by a flow: each attempt goes to the handler a `tenant-auth`
 * node registers, and waits for `answer(id, …)`. No handler (no node
 * deployed, or a redeploy under way): "not mine". No answer in time: a
 * provider failure (refused). At most `maxConcurrent` logins are out in the
 * flow at once; more wait for a turn, within the same timeout.
 */
export class FlowAuthProvider implements AuthProvider {
  readonly name = 'flow' as const;
  readonly mayGrantSuperuser = true;
  readonly remote = true;
  private handler: FlowAuthHandler | null = null;
  private readonly waiting = new Map<string, { resolve: (answer: ProviderAnswer) => void; reject: (err: Error) => void }>();
  private readonly slots = new LoginSlots(FLOW_AUTH_DEFAULTS.maxConcurrent, FLOW_AUTH_DEFAULTS.maxWaiting);

  /** A `tenant-auth` node takes the logins; null when it closes. Only the node that set it may clear it. */
  setHandler(handler: FlowAuthHandler | null, owner?: FlowAuthHandler): void {
    if (handler === null && owner !== undefined && this.handler !== owner) return;
    this.handler = handler;
  }

  get active(): boolean {
    return this.handler !== null;
  }

  async authenticate(attempt: LoginAttempt): Promise<ProviderAnswer> {
    const handler = this.handler;
    if (!handler) return { result: 'ignore' };
    const started = Date.now();
    const release = await this.slots.take(handler.timeoutMs);
    if (!release) throw new ProviderFailure('flow', 'too many logins waiting for the flow');
    const id = randomUUID();
    try {
      return await new Promise<ProviderAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting.delete(id);
          reject(new ProviderFailure('flow', `no answer within ${handler.timeoutMs} ms`));
        }, Math.max(1, handler.timeoutMs - (Date.now() - started)));
        timer.unref?.();
        const settle = <T>(fn: (v: T) => void) => (v: T) => {
          clearTimeout(timer);
          this.waiting.delete(id);
          fn(v);
        };
        this.waiting.set(id, { resolve: settle(resolve), reject: settle(reject) });
        try {
          handler.ask({ id, attempt });
        } catch (err) {
          this.waiting.get(id)?.reject(new ProviderFailure('flow', (err as Error).message));
        }
      });
    } finally {
      release();
    }
  }

  /**
   * The flow's answer to login `id`: `{"result": …, "tenant": …, …}`. False
   * when no login waits under that id (answered already, or timed out).
   * A malformed answer refuses the login and is reported by the returned string.
   */
  answer(id: unknown, raw: unknown): { matched: boolean; problem?: string } {
    const waiter = typeof id === 'string' ? this.waiting.get(id) : undefined;
    if (!waiter) return { matched: false };
    const answer = parseAnswer(raw);
    if ('problem' in answer) {
      waiter.reject(new ProviderFailure('flow', answer.problem));
      return { matched: true, problem: answer.problem };
    }
    waiter.resolve(answer);
    return { matched: true };
  }

  /** Logins waiting for the flow now. */
  get pending(): number {
    return this.waiting.size;
  }

  close(): void {
    for (const waiter of [...this.waiting.values()]) waiter.reject(new ProviderFailure('flow', 'the broker closed'));
    this.handler = null;
  }
}
