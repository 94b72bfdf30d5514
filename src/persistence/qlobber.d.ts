// qlobber ships no type declarations; these cover the two matchers the
// SQLite persistence uses, with the same shapes aedes-persistence relies on.

declare module 'qlobber' {
  export interface QlobberOptions {
    separator?: string;
    wildcard_one?: string;
    wildcard_some?: string;
  }

  /** A topic-filter set that only answers "does any filter match?". */
  export class QlobberTrue {
    constructor(options?: QlobberOptions);
    add(topic: string): this;
    test(topic: string): boolean;
  }
}

declare module 'qlobber/aedes/qlobber-sub' {
  import type { QlobberOptions } from 'qlobber';

  namespace QlobberSub {
    interface Value {
      clientId: string;
      topic: string;
      qos?: number;
      rh?: number;
      rap?: boolean;
      nl?: boolean;
    }
    interface Match {
      clientId: string;
      topic: string;
      qos: number;
      rh?: number;
      rap?: boolean;
      nl?: boolean;
    }
  }

  /** aedes' subscription trie: one value per (filter, client id). */
  class QlobberSub {
    constructor(options?: QlobberOptions);
    readonly subscriptionsCount: number;
    add(topic: string, value: QlobberSub.Value): this;
    remove(topic: string, value: Pick<QlobberSub.Value, 'clientId' | 'topic'>): this;
    match(topic: string): QlobberSub.Match[];
  }

  export = QlobberSub;
}
