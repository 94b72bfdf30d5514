import { Fifo } from './fifo';

/**
 * One FIFO per key (a tenant), served in turn: `shift()` takes the oldest
 * item of the next key that has any, so a burst under one key waits behind
 * the others' items instead of in front of them. With a single key it is a
 * plain FIFO. Push and shift are O(1).
 */
export class FairQueue<T> {
  private readonly queues = new Map<string, Fifo<T>>();
  /** Keys with items, in the order they are served next. */
  private readonly turns = new Fifo<string>();
  private total = 0;

  get length(): number {
    return this.total;
  }

  lengthOf(key: string): number {
    return this.queues.get(key)?.length ?? 0;
  }

  push(key: string, item: T): void {
    let queue = this.queues.get(key);
    if (!queue) {
      this.queues.set(key, (queue = new Fifo()));
      this.turns.push(key);
    }
    queue.push(item);
    this.total++;
  }

  shift(): T | undefined {
    const key = this.turns.shift();
    if (key === undefined) return undefined;
    const queue = this.queues.get(key)!;
    const item = queue.shift();
    this.total--;
    // a key whose queue ran empty is forgotten: the set of keys never outgrows what is queued
    if (queue.length > 0) this.turns.push(key);
    else this.queues.delete(key);
    return item;
  }

  /** Empties every queue, returning what was in them. */
  drain(): T[] {
    const rest: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) rest.push(item);
    return rest;
  }
}
