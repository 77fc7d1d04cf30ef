// Entry of the `@sfmed/dedup/sharded` subpath.
export * from "./sharded/index.js";
