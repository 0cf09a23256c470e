/**
 * Which keys a per-instance memory forgot, and since when (memory-l1.ts, session-memory.ts,
 * access-token-memory.ts).
 *
 * Why: a memory fills itself from storage reads, and a read that started before a forget (a
 * sign-out, a refresh dropping the copy before it reads storage under the lease) can answer after
 * it. Remembering that answer would put the old state back: a signed-out session honoured again,
 * a stale token cache a refresh then starts from. So a memory takes a `mark()` before it reads and
 * remembers the answer only if `forgottenSince(key, mark)` is false.
 *
 * Bounded: at most `maxKeys` keys are tracked. Dropping the oldest raises a floor that every key
 * not tracked is compared with, so an old mark errs towards "forgotten": one more storage read
 * later, never a stale copy.
 */
export class InvalidationLog {
  #sequence = 0;
  #floor = 0;
  /** key -> sequence number of its last forget; Map order is insertion order, oldest first. */
  readonly #lastForgotten = new Map<string, number>();

  constructor(private readonly maxKeys = 1_000) {}

  /** Take before a read whose answer may be remembered. */
  mark(): number {
    return this.#sequence;
  }

  forget(key: string): void {
    this.#sequence += 1;
    this.#lastForgotten.delete(key);
    this.#lastForgotten.set(key, this.#sequence);
    for (const [oldest, at] of this.#lastForgotten) {
      if (this.#lastForgotten.size <= this.maxKeys) break;
      this.#lastForgotten.delete(oldest);
      this.#floor = at;
    }
  }

  forgetAll(): void {
    this.#sequence += 1;
    this.#floor = this.#sequence;
    this.#lastForgotten.clear();
  }

  /** Whether `key` was (or may have been) forgotten after `mark` was taken. */
  forgottenSince(key: string, mark: number): boolean {
    return (this.#lastForgotten.get(key) ?? this.#floor) > mark;
  }
}
