import { helper } from "./lib.js";

export const handler = async (event) => ({ esm: helper(), typeofRequire: typeof require });
