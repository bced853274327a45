import fc from "fast-check";
import type { JsonValue } from "../protocol/stable-json.js";

// The operations the chaos scenarios send: what a trading engine writes through its outbox.
// Drawn with fast-check from a seed, so a seed names the same operations again; every one
// carries a unique opId (and a trade its own tradeId), so no two operations have the same
// arguments and every idempotency key is distinct.

/** One critical operation: `write {type, args}`. */
export interface ChaosOp {
  type: "balance.update" | "trade.log" | "position.open" | "position.update" | "position.close";
  args: Record<string, JsonValue>;
}

const ACCOUNTS = ["acct-alpha", "acct-beta", "acct-gamma", "acct-delta"];
const SYMBOLS = ["AAPL", "MSFT", "BTC-USD", "EUR-USD", "ES-FUT"];

const drawn = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("balance" as const),
      account: fc.constantFrom(...ACCOUNTS),
      delta: fc.integer({ min: -10_000, max: 10_000 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("trade" as const),
      symbol: fc.constantFrom(...SYMBOLS),
      side: fc.constantFrom("buy", "sell"),
      qty: fc.integer({ min: 1, max: 500 }),
      price: fc.integer({ min: 1, max: 100_000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom("position.open" as const, "position.update" as const, "position.close" as const),
      position: fc.integer({ min: 0, max: 7 }),
      qty: fc.integer({ min: 1, max: 1000 }),
    }),
  },
);

/** `count` operations drawn from `seed`; opIds are `<tag>-<index>`. */
export function chaosOps(seed: number, count: number, tag: string): ChaosOp[] {
  if (count === 0) return [];
  return fc.sample(drawn, { seed, numRuns: count }).map((d, i): ChaosOp => {
    const opId = `${tag}-${i}`;
    if (d.kind === "balance") return { type: "balance.update", args: { account: d.account, delta: d.delta, opId } };
    if (d.kind === "trade")
      return {
        type: "trade.log",
        args: { tradeId: `trade-${opId}`, symbol: d.symbol, side: d.side, qty: d.qty, price: d.price, opId },
      };
    return { type: d.kind, args: { positionId: `pos-${d.position}`, qty: d.qty, opId } };
  });
}

/** What a database holding exactly `ops` (each applied once) must show. */
export function expectedEffects(ops: Iterable<ChaosOp>): {
  balances: Map<string, number>;
  trades: number;
  positions: number;
} {
  const balances = new Map<string, number>();
  const positions = new Set<string>();
  let trades = 0;
  for (const op of ops) {
    if (op.type === "balance.update")
      balances.set(
        op.args.account as string,
        (balances.get(op.args.account as string) ?? 0) + (op.args.delta as number),
      );
    else if (op.type === "trade.log") trades += 1;
    else positions.add(op.args.positionId as string);
  }
  return { balances, trades, positions: positions.size };
}

/** A short name of an operation for messages: `balance.update opId o-12`. */
export function describeOp(op: ChaosOp): string {
  return `${op.type} opId ${String(op.args.opId)}`;
}
