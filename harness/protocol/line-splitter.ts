import { StringDecoder } from "node:string_decoder";
import type { Readable } from "node:stream";

// Lines of a stream, split as readline splits them (`\n`, `\r\n` and a lone `\r` end a line;
// the text after the last one is a line at the end of the stream), but handed over
// synchronously from the stream's 'data' event: no readline interface, no async iterator, no
// promise per line. Both ends of the JSON-lines transport read this way (json-lines-child.ts,
// line-server.ts), once per request; a blank line may come where readline gave none (the two
// consumers ignore blank lines).

export interface LineReader {
  /** Stop: no more lines are handed over, and the stream is paused. */
  stop(): void;
}

/**
 * Call `onLine` for every line `input` brings (UTF-8, a character split across chunks kept
 * whole), then `onEnd` when it ends. `onLine` returning false stops the reader at that line.
 */
export function readLines(input: Readable, onLine: (line: string) => boolean | void, onEnd?: () => void): LineReader {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  let stopped = false;
  // One piece that a `\n` ended: a `\r` in it ends a line too (a `\r\n` leaves a blank piece).
  const emit = (piece: string): boolean => {
    if (!piece.includes("\r")) return onLine(piece) !== false;
    for (const part of piece.split("\r")) if (onLine(part) === false) return false;
    return true;
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    input.off("data", onData);
    input.off("end", onEndEvent);
    input.pause();
  };
  const feed = (text: string) => {
    let start = 0;
    let newline = text.indexOf("\n");
    if (newline !== -1 && rest !== "") {
      const first = rest + text.slice(0, newline);
      rest = "";
      if (!emit(first)) return stop();
      start = newline + 1;
      newline = text.indexOf("\n", start);
    }
    while (newline !== -1) {
      if (!emit(text.slice(start, newline))) return stop();
      start = newline + 1;
      newline = text.indexOf("\n", start);
    }
    if (start < text.length) rest += start === 0 ? text : text.slice(start);
    // A lone `\r` ends a line at once, as in readline; what follows the last one waits.
    const cr = rest.lastIndexOf("\r");
    if (cr !== -1) {
      const done = rest.slice(0, cr);
      rest = rest.slice(cr + 1);
      if (!emit(done)) return stop();
    }
  };
  const onData = (chunk: Buffer | string) => {
    if (!stopped) feed(typeof chunk === "string" ? chunk : decoder.write(chunk));
  };
  const onEndEvent = () => {
    if (stopped) return;
    const last = rest + decoder.end();
    rest = "";
    if (last !== "" && !emit(last)) return stop();
    stopped = true;
    onEnd?.();
  };
  input.on("data", onData);
  input.on("end", onEndEvent);
  return { stop };
}
