import path from "node:path";
import { pathToFileURL } from "node:url";
import { createReferenceAdapter, type ReferenceConfig } from "../../reference-impl/reference-adapter.js";
import { UsageError } from "../protocol/errors.js";
import type { WalAdapter, WalAdapterExport } from "../protocol/wal-adapter.js";

function isAdapter(value: unknown): value is WalAdapter {
  if (!value || typeof value !== "object") return false;
  const a = value as Record<string, unknown>;
  return ["hello", "open", "append", "read", "close"].every((m) => typeof a[m] === "function");
}

/** How to make the adapter `--adapter` names. */
export interface AdapterSource {
  make: () => Promise<WalAdapter>;
  /** True when every `make()` gives a new adapter sharing nothing (built-ins, and modules that export a factory). */
  fresh: boolean;
}

/**
 * Resolve `--adapter`: `reference`, `sqlite`, `state-file` (design B), `event-log` (design A), or a path to a JavaScript module whose default export
 * (or `adapter` / `createAdapter` export) is a WalAdapter or a function returning one.
 */
export async function loadAdapter(spec: string, config: Record<string, unknown> = {}): Promise<WalAdapter> {
  return (await adapterSource(spec, config)).make();
}

/** `loadAdapter`, as a factory: what `walcheck serve` needs to offer `recover`. */
export async function adapterSource(spec: string, config: Record<string, unknown> = {}): Promise<AdapterSource> {
  const builtin = (create: (config: Record<string, unknown>) => WalAdapter): AdapterSource => ({
    make: async () => create(config),
    fresh: true,
  });
  if (spec === "reference") return builtin((c) => createReferenceAdapter(c as ReferenceConfig));
  if (spec === "sqlite") return builtin((await import("./sqlite-adapter.js")).createSqliteAdapter);
  // The design A and B reference implementations, loaded only when asked for.
  if (spec === "state-file")
    return builtin((await import("../../reference-impl/state-file-adapter.js")).createStateFileAdapter);
  if (spec === "event-log")
    return builtin((await import("../../reference-impl/event-log-adapter.js")).createEventLogAdapter);
  const file = path.resolve(spec);
  if (/\.[cm]?tsx?$/.test(file)) {
    throw new UsageError(
      `--adapter ${spec}: walcheck loads JavaScript; compile the TypeScript module first (tsc) and pass the .js file`,
    );
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`--adapter ${spec}: cannot load the module: ${(error as Error).message}`, { cause: error });
  }
  const exported = (mod.default ?? mod.adapter ?? mod.createAdapter) as WalAdapterExport | undefined;
  const make = async () => {
    const adapter = typeof exported === "function" ? await exported() : exported;
    if (!isAdapter(adapter)) {
      throw new UsageError(
        `--adapter ${spec}: the module must export a WalAdapter (hello, open, append, read, close) or a function returning one, as default, "adapter" or "createAdapter"`,
      );
    }
    return adapter;
  };
  // A bad export is a usage error now, not at the first recover; the adapter made to check
  // it is the first one handed out (a factory is not called twice for the serving adapter).
  let checked: WalAdapter | undefined = await make();
  return {
    make: async () => {
      const first = checked;
      checked = undefined;
      return first ?? make();
    },
    fresh: typeof exported === "function",
  };
}
