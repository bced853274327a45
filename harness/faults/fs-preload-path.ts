import path from "node:path";
import { fileURLToPath } from "node:url";

/** The compiled fs-call preload (crashes and faults at Node fs calls), for NODE_OPTIONS=--import. */
export const FS_PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), "fs-preload.js");
