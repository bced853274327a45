// Escaping for the renderers. Any string in a report may have come from the adapter under
// test (its hello, error messages, the values it recovered), so every one is escaped where
// it lands; none is trusted to be plain text.

/** Control characters XML 1.0 does not allow (all C0 but tab, LF and CR; U+FFFE, U+FFFF) and lone surrogates. */
const XML_INVALID =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** XML text content: & < > " ' as entities; characters XML 1.0 forbids become U+FFFD. */
export function xmlText(s: string): string {
  return s
    .replace(XML_INVALID, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** An XML attribute value: as text, and line breaks and tabs as character references (a parser would fold them to spaces). */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/\n/g, "&#10;").replace(/\r/g, "&#13;").replace(/\t/g, "&#9;");
}

/** C0 controls (but tab), DEL, lone surrogates: never printed raw in Markdown either. */
const MD_CONTROL =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** One line: line breaks (and U+2028/2029) shown as ↵, tabs as spaces, controls as U+FFFD. */
function oneLine(s: string): string {
  return s
    .replace(MD_CONTROL, "\uFFFD")
    .replace(/\r\n|\r|\n|\u2028|\u2029/g, " ↵ ")
    .replace(/\t/g, " ");
}

/**
 * Markdown inline text (a table cell, a list item): one line; `|` and the characters that
 * start emphasis, links, headings or code are backslash-escaped; < > & as entities, so no raw HTML
 * gets through.
 */
export function mdText(s: string): string {
  return oneLine(s)
    .replace(/[\\`*_[\]|~#]/g, (c) => `\\${c}`)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** The longest run of backticks in `s`. */
function longestBacktickRun(s: string): number {
  return Math.max(0, ...(s.match(/`+/g) ?? []).map((r) => r.length));
}

/**
 * A Markdown code span (not for table cells): fenced with more backticks than any run
 * inside, so backticks in `s` cannot end it. Inside a code span nothing is HTML.
 */
export function mdCode(s: string): string {
  const text = oneLine(s);
  const fence = "`".repeat(longestBacktickRun(text) + 1);
  const pad = /^[` ]|[` ]$/.test(text) ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A fenced code block of `lines`, its fence longer than any backtick run inside. */
export function mdCodeBlock(lines: string[], lang = ""): string {
  const body = lines.flatMap((l) => l.split(/\r\n|\r|\n|\u2028|\u2029/)).map((l) => l.replace(MD_CONTROL, "\uFFFD"));
  const fence = "`".repeat(Math.max(3, longestBacktickRun(body.join("\n")) + 1));
  return [`${fence}${lang}`, ...body, fence].join("\n");
}
