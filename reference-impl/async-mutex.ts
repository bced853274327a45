/** A FIFO async mutex: the writer and a checkpoint's capture step take turns. */
export class AsyncMutex {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  /** The lock at once, if no one holds it (then no one waits for it either); else undefined. */
  tryLock(): (() => void) | undefined {
    if (this.held) return undefined;
    this.held = true;
    return this.releaser();
  }

  /** Resolves with a release function once every earlier holder has released. */
  lock(): Promise<() => void> {
    const now = this.tryLock();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => this.waiters.push(() => resolve(this.releaser())));
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const release = await this.lock();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Hands the lock to the next waiter, in order; a second call of the same release does nothing. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.held = false;
    };
  }
}
