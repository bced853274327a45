import type { AdapterClient } from "../protocol/adapter-client.js";

// The spare process a case started ahead and never used (the case ended first), kept for the
// next case of the same campaign worker instead of being killed: a campaign of short cases
// otherwise pays one process start per case that nothing uses (38 of 410 adapter processes in
// `walcheck run --adapter reference --scenarios 'crash-*' --seed 1`). A spare is a process of
// the campaign's launch, started with its plain environment and never sent a request, so it is
// the same to every case of the campaign. One is kept at most; the worker closes the shelf when
// it stops (its cases done, or interrupted), which kills what is left.

export class SpareShelf {
  private kept: AdapterClient | undefined;
  private readonly gone = new WeakSet<AdapterClient>();
  private closed = false;

  /** The kept spare, still running, if there is one (it is then the caller's). */
  take(): AdapterClient | undefined {
    const client = this.kept;
    this.kept = undefined;
    if (client && this.gone.has(client)) return undefined;
    return client;
  }

  /** Keep `client` (a spare never sent a request) for the next case; killed if one is kept already or the shelf is closed. */
  async give(client: AdapterClient): Promise<void> {
    if (this.closed || this.kept || this.gone.has(client)) {
      await client.kill("SIGKILL");
      return;
    }
    void client.exited.then(() => this.gone.add(client));
    this.kept = client;
  }

  /** Kill the kept spare; later gifts are killed. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.kept;
    this.kept = undefined;
    await client?.kill("SIGKILL");
  }
}
