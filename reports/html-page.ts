import { xmlText } from "./escape.js";

/** The pages' policy: no network, no script, inline style only. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'";

/**
 * A self-contained HTML page: `title` is escaped here; `css` and `body` are markup the caller
 * built (and escaped) itself.
 */
export function htmlPage(o: { title: string; css: string; body: string }): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${xmlText(o.title)}</title>
<style>${o.css}</style>
</head>
<body>
<main>
${o.body}
</main>
</body>
</html>
`;
}
