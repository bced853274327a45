// Reports: JSON first (the rich renderers arrive with step 4).
export { writeJsonAtomic } from "./json-file.js";
