import type { Aedes } from 'aedes';
import { connectedClients, persistenceOf } from '../aedes-seam';

/**
 * Wills kept from before a restart (a graceful close keeps them; a crash
 * leaves them). Their connections ended without DISCONNECT, so each is
 * published unless its client reconnects within the grace time (a reconnect
 * replaces the stored will under the same broker id and client id). Each is
 * published through aedes' authorizePublish, where the policy core checks it
 * is still inside its owner's namespace.
 */
export class KeptWills {
  private orphans: Array<{ clientId: string; brokerId: string }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly graceMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Collects the wills stored before this start and arms the grace timer. */
  async collect(aedes: Aedes): Promise<void> {
    for await (const will of persistenceOf(aedes).streamWill({})) this.orphans.push({ clientId: will.clientId, brokerId: will.brokerId });
    if (this.orphans.length === 0) return;
    this.timer = setTimeout(() => this.publish(aedes).catch(this.onError), this.graceMs);
    this.timer.unref();
  }

  /** Publishes now the kept wills of clients that have not reconnected since the start. */
  async publish(aedes: Aedes | null): Promise<void> {
    this.stop();
    const orphans = this.orphans.splice(0);
    if (!aedes) return;
    const persistence = persistenceOf(aedes);
    for (const { clientId, brokerId } of orphans) {
      if (connectedClients(aedes)[clientId]) continue;
      const will = await persistence.getWill({ id: clientId, brokerId });
      if (!will) continue;
      const allowed = await new Promise<boolean>((resolve) => aedes.authorizePublish(null, will, (err) => resolve(!err)));
      if (allowed) await new Promise<void>((resolve) => aedes.publish(will, () => resolve()));
      await persistence.delWill({ id: clientId, brokerId });
    }
  }

  /** Forgets the collected wills and the timer (they stay stored for the next start). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  reset(): void {
    this.stop();
    this.orphans = [];
  }
}
