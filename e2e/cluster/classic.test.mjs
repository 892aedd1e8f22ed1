// The classic adapter (createAdapter): every cross-node case, in both directions.
import { clusterCases } from "./lib/cases.mjs";

clusterCases(
  "classic adapter (createAdapter, requestsTimeout 2000)",
  { requestsTimeout: 2000 },
  {
    sseTimeout: 2000,
    emitter: true,
  },
);
