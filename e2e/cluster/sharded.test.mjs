// The sharded adapter (createShardedAdapter, Redis 7 SPUBLISH/SSUBSCRIBE, dynamic subscription
// mode): the same cross-node cases. Node's ClusterAdapter waits a fixed 5000 ms for the answers
// of serverSideEmitWithAck (it has no requestsTimeout).
import { clusterCases } from "./lib/cases.mjs";

clusterCases("sharded adapter (createShardedAdapter)", { sharded: true }, { sseTimeout: 5000 });
