import type { AdapterClient, ProtocolWarning } from "../../protocol/adapter-client.js";

// Recovery processes kept between the power-loss cases of a run: a case's RecoveryPool
// (check-states.ts) borrows long-lived `recover` processes and fresh processes started ahead
// (hello asked, never given a directory) from the keeper, and gives back at its end those
// still alive, so the next case does not start its own. A process the case's session killed
// (a timeout, an interrupt) or that died is not given back. The run closes the keeper at its end.

/** A long-lived `recover` process and the recoveries it answered (check-states.ts replaces it past a limit). */
export interface RecoverSlot {
  client: AdapterClient;
  uses: number;
}

/** What a case lends its processes to: the case's session (killed with it) and its warnings. */
export interface Borrower {
  /** The session kills `client` when it is disposed (a case timeout, an interrupt), until the returned function is called. */
  adopt: (client: AdapterClient) => () => void;
  onWarning: (w: Omit<ProtocolWarning, "count">) => void;
}

/** Idle processes kept per kind at most (beyond: killed). */
const KEPT_MAX = 8;

export class RecoveryKeeper {
  private idle: RecoverSlot[] = [];
  private ready: AdapterClient[] = [];
  private readonly all = new Set<AdapterClient>();
  private readonly gone = new WeakSet<AdapterClient>();
  private readonly borrowers = new Map<AdapterClient, { borrower: Borrower; release: () => void }>();
  private closed = false;

  /** `start` spawns one process of the adapter (its warnings go to `onWarning`). */
  constructor(private readonly start: (onWarning: (w: Omit<ProtocolWarning, "count">) => void) => AdapterClient) {}

  /** A new process, lent to `borrower`. */
  spawn(borrower: Borrower): AdapterClient {
    if (this.closed) throw new Error("recovery keeper closed");
    const client: AdapterClient = this.start((w) => this.borrowers.get(client)?.borrower.onWarning(w));
    this.all.add(client);
    void client.exited.then(() => {
      this.gone.add(client);
      this.all.delete(client);
      this.unlend(client);
    });
    this.lend(client, borrower);
    return client;
  }

  /** A kept long-lived process, lent to `borrower`, if there is one. */
  takeIdle(borrower: Borrower): RecoverSlot | undefined {
    for (let slot = this.idle.pop(); slot; slot = this.idle.pop())
      if (this.usable(slot.client)) {
        this.lend(slot.client, borrower);
        return slot;
      }
    return undefined;
  }

  /** A kept fresh process (started, hello asked, never given a directory), lent to `borrower`, if there is one. */
  takeReady(borrower: Borrower): AdapterClient | undefined {
    for (let client = this.ready.pop(); client; client = this.ready.pop())
      if (this.usable(client)) {
        this.lend(client, borrower);
        return client;
      }
    return undefined;
  }

  /** Take back a long-lived process (killed if it cannot be kept). */
  async giveIdle(slot: RecoverSlot): Promise<void> {
    this.unlend(slot.client);
    if (this.usable(slot.client) && this.idle.length < KEPT_MAX) this.idle.push(slot);
    else await slot.client.kill("SIGKILL");
  }

  /** Take back a fresh process that was never given a directory (killed if it cannot be kept). */
  async giveReady(client: AdapterClient): Promise<void> {
    this.unlend(client);
    if (this.usable(client) && this.ready.length < KEPT_MAX) this.ready.push(client);
    else await client.kill("SIGKILL");
  }

  /** Kill every process it started. */
  async close(): Promise<void> {
    this.closed = true;
    this.idle = [];
    this.ready = [];
    await Promise.all([...this.all].map((c) => c.kill("SIGKILL")));
  }

  private usable(client: AdapterClient): boolean {
    return !this.closed && !this.gone.has(client) && !client.killedByWalcheck && client.inFlight === 0;
  }

  private lend(client: AdapterClient, borrower: Borrower): void {
    this.borrowers.set(client, { borrower, release: borrower.adopt(client) });
  }

  private unlend(client: AdapterClient): void {
    this.borrowers.get(client)?.release();
    this.borrowers.delete(client);
  }
}
