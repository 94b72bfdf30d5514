/** What a webhook's health tracker reports: a transition, never a repeat. */
export interface HealthTransition {
  state: 'failing' | 'recovered';
  /** When the webhook started failing (ms since the epoch). */
  since: number;
  /** Deliveries failed since then: 1 when it starts failing, all of them when it recovers. */
  failed: number;
}

/**
 * Whether one webhook's deliveries are failing, told as transitions: its
 * first failed delivery (after the last retry) while healthy, and its first
 * success while failing. However many deliveries fail in between, each
 * transition is reported once, so a log can say it without flooding.
 */
export class WebhookHealth {
  private failingSince: number | null = null;
  private failed = 0;

  get failing(): boolean {
    return this.failingSince !== null;
  }

  record(delivered: boolean, now = Date.now()): HealthTransition | null {
    if (!delivered) {
      this.failed++;
      if (this.failingSince !== null) return null;
      this.failingSince = now;
      return { state: 'failing', since: now, failed: 1 };
    }
    if (this.failingSince === null) return null;
    const transition: HealthTransition = { state: 'recovered', since: this.failingSince, failed: this.failed };
    this.failingSince = null;
    this.failed = 0;
    return transition;
  }
}
