/**
 * CHANNELZ_OFF: grpc-js tracks every call, socket and channel for channelz, a debugging service
 * we do not serve, unless told not to. On a node under unary load that bookkeeping was 2–3% of
 * its busy time (bench/RESULTS.md, "CPU per call after sessions"); every server and channel we
 * create passes this.
 */
export const CHANNELZ_OFF = { 'grpc.enable_channelz': 0 } as const;
