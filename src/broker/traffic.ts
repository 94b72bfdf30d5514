/** Message and byte counters of one tenant (or of everyone), and its denials by reason. */
export interface TrafficFigures {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  /** QoS 0 publishes that waited for room in their client's publish window (publish-window.ts). */
  publishesHeld: number;
  denials: Record<string, number>;
  /** Message policy violations, by `<policy id>/<reason>`. */
  violations: Record<string, number>;
}

function empty(): TrafficFigures {
  return { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, publishesHeld: 0, denials: {}, violations: {} };
}

/** In-memory counters on the message path: a Map lookup and two additions per event. */
export class TrafficCounters {
  readonly startedAt = Date.now();
  private readonly byTenant = new Map<string, TrafficFigures>();
  private readonly all = empty();

  private of(tenant: string): TrafficFigures {
    let figures = this.byTenant.get(tenant);
    if (!figures) this.byTenant.set(tenant, (figures = empty()));
    return figures;
  }

  published(tenant: string | null, bytes: number): void {
    this.all.messagesIn++;
    this.all.bytesIn += bytes;
    if (tenant === null) return;
    const figures = this.of(tenant);
    figures.messagesIn++;
    figures.bytesIn += bytes;
  }

  delivered(tenant: string | null, bytes: number): void {
    this.all.messagesOut++;
    this.all.bytesOut += bytes;
    if (tenant === null) return;
    const figures = this.of(tenant);
    figures.messagesOut++;
    figures.bytesOut += bytes;
  }

  held(tenant: string | null): void {
    this.all.publishesHeld++;
    if (tenant !== null) this.of(tenant).publishesHeld++;
  }

  denied(tenant: string | null, reason: string): void {
    this.all.denials[reason] = (this.all.denials[reason] ?? 0) + 1;
    if (tenant === null) return;
    const denials = this.of(tenant).denials;
    denials[reason] = (denials[reason] ?? 0) + 1;
  }

  violated(tenant: string | null, policy: number, reason: string): void {
    const key = `${policy}/${reason}`;
    this.all.violations[key] = (this.all.violations[key] ?? 0) + 1;
    if (tenant === null) return;
    const violations = this.of(tenant).violations;
    violations[key] = (violations[key] ?? 0) + 1;
  }

  forget(tenant: string): void {
    this.byTenant.delete(tenant);
  }

  tenant(tenant: string): TrafficFigures {
    const figures = this.byTenant.get(tenant) ?? empty();
    return { ...figures, denials: { ...figures.denials }, violations: { ...figures.violations } };
  }

  total(): TrafficFigures {
    return { ...this.all, denials: { ...this.all.denials }, violations: { ...this.all.violations } };
  }
}
