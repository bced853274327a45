import net from "node:net";

// A TCP proxy in walcheck's own process between an outbox and its PostgreSQL server: the sink
// URL the outbox gets points here. `cut()` is the outage: every connection through it is reset
// and new ones are reset as they arrive, exactly what a client sees when the server's host
// goes away; `restore()` lets connections through again. No server restart, so it works
// against any server the user names.

export interface TcpProxy {
  readonly port: number;
  /** Connections currently relayed. */
  readonly open: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(upstream: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; server: net.Socket }>();
  let cut = false;

  const drop = (pair: { client: net.Socket; server: net.Socket }) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.server.destroy();
  };

  const proxy = net.createServer((client) => {
    client.on("error", () => {});
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const server = net.connect(upstream.port, upstream.host);
    server.on("error", () => {});
    const pair = { client, server };
    pairs.add(pair);
    client.pipe(server);
    server.pipe(client);
    client.once("close", () => pairs.has(pair) && drop(pair));
    server.once("close", () => pairs.has(pair) && drop(pair));
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once("error", reject);
    proxy.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (proxy.address() as net.AddressInfo).port;

  return {
    port,
    get open() {
      return pairs.size;
    },
    cut() {
      cut = true;
      for (const pair of [...pairs]) drop(pair);
    },
    restore() {
      cut = false;
    },
    async close() {
      cut = true;
      for (const pair of [...pairs]) drop(pair);
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
