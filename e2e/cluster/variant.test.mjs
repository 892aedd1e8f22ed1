// The classic adapter with a non-default key and publishOnSpecificResponseChannel: the same
// cross-node cases (responses then travel on <key>-response#<nsp>#<requester uid>#).
import { clusterCases } from "./lib/cases.mjs";

clusterCases(
  "classic adapter (key e2e-key, publishOnSpecificResponseChannel, requestsTimeout 1500)",
  { key: "e2e-key", specific: true, requestsTimeout: 1500 },
  { sseTimeout: 1500, emitter: true },
);
