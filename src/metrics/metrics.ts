import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RaftStatus } from '../raft/index.js';
import { DEDUP_EVICTION_REASONS, REJECTED_ENTRY_REASONS } from '../registry/index.js';

/** METRIC_PREFIX starts every series this project defines (Node's default ones keep theirs). */
export const METRIC_PREFIX = 'room_registry_';

/** MetricsSources are read at scrape time, so gauges are never stale and nothing polls. */
export interface MetricsSources {
  raftStatus(): RaftStatus;
  rooms(): number;
  proposalsInFlight(): number;
  readsInFlight(): number;
  /** persistInFlightMs: how long the log write in flight has taken so far (0 when none is). */
  persistInFlightMs(): number;
  /** roomTotals: the state machine's lifetime counts (replicated, so every node agrees). */
  roomTotals(): { created: number; deleted: number; expired: number; mediaNodeLeasesExpired: number };
  /** liveMediaNodes: the media-node leases alive now (replicated state, read at this node's clock). */
  liveMediaNodes(): ReadonlyArray<{ readonly region: string }>;
  /** quota: this node's state quota (what it stamps as leader) and the state's size as the quota counts it. */
  quota(): { quotaBytes: number; usedBytes: number };
  /** stateBytes: the room records' encoded bytes, and the slab memory that holds them (holes included). */
  stateBytes(): { records: number; slabs: number };
  /** sweeperBacklog: rooms past their deadline not yet deleted, and the oldest one's lateness. */
  sweeperBacklog(): { rooms: number; oldestOverdueMs: number };
  /** peers: per peer, whether it was heard from since its stream last broke, and failed sends. */
  peers(): ReadonlyMap<string, { healthy: boolean; sendErrors: number }>;
  /** peerRefusals: peer calls refused, by reason; malformed: peer messages that did not decode. */
  peerRefusals(): Readonly<Record<string, number>>;
  peerMalformed(): number;
  /** inboxDropped: peer messages the node dropped because its inbox was full (a stalled loop). */
  inboxDropped(): number;
}

/** GrpcListenerStats is what the public gRPC listener reports (src/api/grpc-server.ts GrpcApi.stats). */
export interface GrpcListenerStats {
  readonly watch: {
    readonly watchers: number;
    readonly queuedBytes: number;
    readonly cutSlow: number;
    readonly refusedFull: number;
  };
  readonly connectionsRefused: number;
  /** sessions: Session streams open. */
  readonly sessions: number;
}

const ROLE_VALUE = { follower: 0, precandidate: 1, candidate: 2, leader: 3 } as const;

/**
 * Metrics defines every series once (STYLE rule 23): the node and the API feed it through
 * events and the sources above; nothing below imports prom-client.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly apiRequests: Counter<'method' | 'code' | 'protocol'>;
  readonly apiLatency: Histogram<'method' | 'protocol'>;
  readonly leaderChanges: Counter;
  readonly persistLatency: Histogram;
  readonly persistedEntries: Counter;
  readonly appliedEntries: Counter;
  readonly snapshots: Counter;
  readonly snapshotBytes: Gauge;
  readonly snapshotDuration: Histogram;
  readonly sweepBatches: Counter;
  readonly sweepDuration: Histogram;
  readonly rejectedEntries: Counter<'reason'>;
  readonly dedupEvictions: Counter<'reason'>;
  readonly replicationHeldBack: Counter<'what'>;
  readonly backupLastSuccess: Gauge;
  readonly backupFailures: Counter;
  readonly backupInterval: Gauge;

  // eslint-disable-next-line max-lines-per-function -- a table: one series definition a statement
  constructor(private readonly sources: MetricsSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    const name = (n: string): string => `${METRIC_PREFIX}${n}`;
    this.apiRequests = new Counter({
      name: name('api_requests_total'),
      help: 'API requests by method, protocol and result code',
      labelNames: ['method', 'code', 'protocol'],
      registers: [r],
    });
    this.apiLatency = new Histogram({
      name: name('api_request_duration_seconds'),
      help: 'API request latency',
      labelNames: ['method', 'protocol'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    this.leaderChanges = new Counter({
      name: name('raft_leader_changes_total'),
      help: 'Times this node saw the leader change',
      registers: [r],
    });
    this.persistLatency = new Histogram({
      name: name('wal_fsync_duration_seconds'),
      help: 'Time to append and fsync one Ready batch to the write-ahead log',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [r],
    });
    this.persistedEntries = new Counter({
      name: name('wal_entries_total'),
      help: 'Log entries appended to the write-ahead log',
      registers: [r],
    });
    this.appliedEntries = new Counter({
      name: name('raft_applied_entries_total'),
      help: 'Committed entries applied to the state machine',
      registers: [r],
    });
    this.snapshots = new Counter({ name: name('snapshots_total'), help: 'Snapshots taken', registers: [r] });
    this.snapshotBytes = new Gauge({
      name: name('snapshot_last_bytes'),
      help: 'Size of the newest snapshot taken',
      registers: [r],
    });
    this.snapshotDuration = new Histogram({
      name: name('snapshot_duration_seconds'),
      help: 'Time to write one snapshot',
      buckets: [0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r],
    });
    this.sweepBatches = new Counter({
      name: name('sweep_batches_total'),
      help: 'ExpireRooms batches proposed by the sweeper (leader only)',
      registers: [r],
    });
    this.sweepDuration = new Histogram({
      name: name('sweep_batch_duration_seconds'),
      help: 'Time from proposing an ExpireRooms batch to its apply',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [r],
    });
    this.rejectedEntries = new Counter({
      name: name('state_machine_rejected_entries_total'),
      help: 'Committed entries the state machine skipped: undecodable bytes, or a command kind this build does not know',
      labelNames: ['reason'],
      registers: [r],
    });
    for (const reason of REJECTED_ENTRY_REASONS) this.rejectedEntries.inc({ reason }, 0);
    this.dedupEvictions = new Counter({
      name: name('dedup_evictions_total'),
      help: 'Request ids forgotten before their dedup window ended, by the bound that forced it (entries or bytes); a retry of one would apply again',
      labelNames: ['reason'],
      registers: [r],
    });
    for (const reason of DEDUP_EVICTION_REASONS) this.dedupEvictions.inc({ reason }, 0);
    this.replicationHeldBack = new Counter({
      name: name('replication_held_back_total'),
      help: 'Appends with entries, or snapshots, this leader did not send to a member not heard to apply the command version the cluster uses (upgrade it)',
      labelNames: ['what'],
      registers: [r],
    });
    for (const what of ['entries', 'snapshot']) this.replicationHeldBack.inc({ what }, 0);
    this.backupLastSuccess = new Gauge({
      name: name('backup_last_success_timestamp_seconds'),
      help: 'When this node last wrote a scheduled backup (Unix seconds; 0: never; only the leader writes them)',
      registers: [r],
    });
    this.backupFailures = new Counter({
      name: name('backup_failures_total'),
      help: 'Scheduled backups that failed on this node',
      registers: [r],
    });
    this.backupInterval = new Gauge({
      name: name('backup_interval_seconds'),
      help: 'The scheduled backup interval (--backup-interval; 0: no scheduled backups)',
      registers: [r],
    });
    this.defineScrapedSeries(name);
  }

  // eslint-disable-next-line max-lines-per-function -- a table: one series definition a statement
  private defineScrapedSeries(name: (n: string) => string): void {
    const r = this.registry;
    const s = this.sources;
    const gauge = (n: string, help: string, read: () => number): void => {
      new Gauge({
        name: name(n),
        help,
        registers: [r],
        collect() {
          this.set(read());
        },
      });
    };
    // Counters kept elsewhere (the replicated state machine, the transport) are copied at scrape time.
    const counter = (n: string, help: string, read: () => number): void => {
      new Counter({
        name: name(n),
        help,
        registers: [r],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    gauge('rooms', 'Rooms in the registry on this node', () => s.rooms());
    counter('rooms_created_total', 'Rooms created (replicated count)', () => s.roomTotals().created);
    counter('rooms_deleted_total', 'Rooms deleted by DeleteRoom (replicated count)', () => s.roomTotals().deleted);
    counter('rooms_expired_total', 'Rooms deleted by expiry (replicated count)', () => s.roomTotals().expired);
    new Gauge({
      name: name('media_nodes'),
      help: 'Media nodes with a live lease, by the region they report (replicated state, so every node agrees)',
      labelNames: ['region'],
      registers: [r],
      collect() {
        // A region whose last node died disappears; the alert compares with the region's recent past.
        this.reset();
        for (const [region, n] of countByRegion(s.liveMediaNodes())) this.set({ region }, n);
      },
    });
    counter(
      'media_node_leases_expired_total',
      'Media-node leases expired because no heartbeat renewed them (replicated count)',
      () => s.roomTotals().mediaNodeLeasesExpired,
    );
    gauge(
      'quota_bytes',
      'State quota this node applies as leader (--quota-bytes): past it creates and growing updates fail RESOURCE_EXHAUSTED',
      () => s.quota().quotaBytes,
    );
    gauge(
      'quota_used_bytes',
      'Summed size of the room records, as the state quota counts it (replicated, so every node agrees)',
      () => s.quota().usedBytes,
    );
    gauge(
      'state_bytes',
      'Bytes of the room records, encoded as the room table holds them',
      () => s.stateBytes().records,
    );
    gauge(
      'state_slab_bytes',
      'Memory of the buffers the room records are packed in, free space included',
      () => s.stateBytes().slabs,
    );
    gauge('raft_term', 'Current Raft term', () => s.raftStatus().term);
    gauge(
      'raft_role',
      'Raft role: 0 follower, 1 precandidate, 2 candidate, 3 leader',
      () => ROLE_VALUE[s.raftStatus().role],
    );
    gauge('raft_is_leader', '1 when this node is the leader', () => (s.raftStatus().role === 'leader' ? 1 : 0));
    gauge('raft_has_leader', '1 when this node knows a leader', () => (s.raftStatus().leader === null ? 0 : 1));
    gauge('raft_commit_index', 'Highest log index known committed', () => s.raftStatus().commitIndex);
    gauge('raft_applied_index', 'Highest log index applied to the state machine', () => s.raftStatus().appliedIndex);
    gauge(
      'raft_apply_lag_entries',
      'Committed entries not yet applied',
      () => s.raftStatus().commitIndex - s.raftStatus().appliedIndex,
    );
    gauge('raft_proposals_in_flight', 'Writes waiting for their entry to apply', () => s.proposalsInFlight());
    gauge('reads_in_flight', 'Linearizable reads waiting for confirmation', () => s.readsInFlight());
    gauge(
      'persist_in_flight_seconds',
      'How long the log write in flight has taken so far (0 when none is); past the election timeout the node refuses new work',
      () => s.persistInFlightMs() / 1000,
    );
    counter(
      'inbox_dropped_messages_total',
      'Peer messages dropped because the node loop was stuck (a stalled disk) and its inbox full',
      () => s.inboxDropped(),
    );
    gauge('sweeper_backlog_rooms', 'Rooms past their expiry deadline not yet deleted', () => s.sweeperBacklog().rooms);
    gauge(
      'sweeper_oldest_overdue_seconds',
      'How long the most overdue room has been past its deadline (1 s resolution)',
      () => s.sweeperBacklog().oldestOverdueMs / 1000,
    );
    new Gauge({
      name: name('peer_healthy'),
      help: '1 when the peer was heard from since its stream last broke',
      labelNames: ['peer'],
      registers: [r],
      collect() {
        for (const [peer, p] of s.peers()) this.set({ peer }, p.healthy ? 1 : 0);
      },
    });
    new Counter({
      name: name('peer_errors_total'),
      help: 'Peer transport errors: failed sends per peer, refused calls by reason, undecodable messages',
      labelNames: ['peer', 'kind'],
      registers: [r],
      collect() {
        this.reset();
        for (const [peer, p] of s.peers()) this.inc({ peer, kind: 'send_failed' }, p.sendErrors);
        for (const [reason, n] of Object.entries(s.peerRefusals()))
          this.inc({ peer: 'unknown', kind: `refused_${reason}` }, n);
        this.inc({ peer: 'unknown', kind: 'malformed' }, s.peerMalformed());
      },
    });
  }

  /**
   * observeGrpc adds the public gRPC listener's series, read at scrape time: open watchers,
   * their queued bytes, watchers cut off or refused, connections refused past the cap, open sessions.
   */
  observeGrpc(read: () => GrpcListenerStats): void {
    const r = this.registry;
    const name = (n: string): string => `${METRIC_PREFIX}${n}`;
    new Gauge({
      name: name('grpc_sessions'),
      help: 'Session streams open on this node',
      registers: [r],
      collect() {
        this.set(read().sessions);
      },
    });
    new Gauge({
      name: name('watchers'),
      help: 'WatchRooms streams open on this node',
      registers: [r],
      collect() {
        this.set(read().watch.watchers);
      },
    });
    new Gauge({
      name: name('watch_queued_bytes'),
      help: 'Encoded events handed to watchers and not yet taken by their connections',
      registers: [r],
      collect() {
        this.set(read().watch.queuedBytes);
      },
    });
    new Counter({
      name: name('watchers_ended_total'),
      help: 'Watches ended by the node: too_slow (watchQueueBytesMax queued), refused_full (watchersMax open)',
      labelNames: ['reason'],
      registers: [r],
      collect() {
        this.reset();
        this.inc({ reason: 'too_slow' }, read().watch.cutSlow);
        this.inc({ reason: 'refused_full' }, read().watch.refusedFull);
      },
    });
    new Counter({
      name: name('grpc_connections_refused_total'),
      help: 'gRPC connections closed at once because connectionsMax were open',
      registers: [r],
      collect() {
        this.reset();
        this.inc(read().connectionsRefused);
      },
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** countByRegion: how many of `nodes` report each region. */
export function countByRegion(nodes: ReadonlyArray<{ readonly region: string }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.region, (counts.get(n.region) ?? 0) + 1);
  return counts;
}
