// aedes-persistence ships no declaration for its conformance suite.
declare module 'aedes-persistence/abstract.js' {
  interface AbstractPersistenceOptions {
    /** node:test's `test`, or a wrapper with the same call shape. */
    test: (name: string, fn: (t: unknown) => Promise<void>) => unknown;
    /** Builds a fresh, empty persistence for each test. */
    persistence: () => unknown;
    /** The persistence is an async one: the suite calls `await setup(broker)` itself. */
    testAsync?: boolean;
    waitForReady?: boolean;
    buildEmitter?: () => unknown;
  }
  function abstractPersistence(opts: AbstractPersistenceOptions): void;
  export = abstractPersistence;
}

// aedes-persistence's in-memory persistence, for tests that need a real persistence with a fault.
declare module 'aedes-persistence/asyncPersistence.js' {
  class MemoryPersistence {
    subscriptionsByTopic(topic: string): Promise<unknown>;
  }
  export = MemoryPersistence;
}
