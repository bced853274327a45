// The scenario catalogue arrives with step 3; until then `walcheck list` does not exist
// and nothing here pretends otherwise.
export const SCENARIOS: readonly { name: string; description: string }[] = [];
