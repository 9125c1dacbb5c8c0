/**
 * Seeds that once failed, each with the bug it found. They run on every `vitest run test/sim`,
 * whatever SIM_SEEDS says, so a fixed bug stays fixed. A seed replays the same schedule only
 * while the simulator draws its randomness in the same order (and the core consumes the same
 * jitter); after a change to faults.ts, to the order of draws, or to the core's behaviour, a
 * seed still runs (as one more schedule) but may no longer reach the old failure, so re-find
 * one with the same story and replace it.
 */
export interface RegressionSeed {
  readonly seed: number;
  readonly bug: string;
}

export const REGRESSION_SEEDS: readonly RegressionSeed[] = [
  {
    // src/raft liveness (fixed in raft.ts settleHigherTerm). PreVote and CheckQuorum off, tick
    // rates 3x apart: n5, with a stale log and the fastest clock, campaigned every ~80 steps.
    // Each of its (refused) vote requests raised the others' term and restarted their
    // election timers, so no up-to-date member ever campaigned: term 135 to 200 after healing,
    // never a leader. Raft's Figure 2 restarts the timer only on granting a vote.
    seed: 4151,
    bug: 'raft: a refused vote request restarted the election timer; a stale fast-clocked node kept the cluster leaderless',
  },
  {
    // Checker: n3, a candidate in term 12, was paused (SIGSTOP) while its votes arrived;
    // meanwhile n1 led term 14 and committed 46/14. On waking, n3 counted its votes and led
    // term 12 without 46/14, which is legal. Leader Completeness had demanded every committed
    // entry of every new leader; it now binds only leaders of terms after the commit.
    seed: 385,
    bug: 'checker: a stale leader of an older term, elected after a pause, flagged by Leader Completeness',
  },
  {
    // The same story in a 5-node cluster: n1 leads term 6 after a pause, while 36/7 was
    // committed in term 7.
    seed: 666,
    bug: 'checker: a stale leader of an older term (5 nodes), flagged by Leader Completeness',
  },
  {
    // Simulator: with stepDuringPersist, a leader queued an InstallSnapshot while a Ready was
    // persisting; that Ready then took a newer snapshot and pruned the older one's bytes. The
    // simulated transport asserted; like a real one, it now fails the send and reports it.
    seed: 5714,
    bug: 'simulator: InstallSnapshot queued before its snapshot bytes were pruned',
  },
  {
    // src/raft membership (fixed in raft.ts pollVotes; transcript conf-hint-stands-down.txt).
    // n1 held the entry removing it but did not know it committed, and pre-campaigned as a
    // voter; n2's grant carried a commit hint showing the removal committed, and n1 went on to
    // a real election in the configuration it was leaving. The membership checker caught a
    // candidate that was no voter of its own configuration.
    seed: 181,
    bug: 'raft: a pre-candidate that learned of its committed removal from a vote answer went on campaigning',
  },
  {
    // src/raft (fixed in raft.ts send; transcript sole-voter-term.txt). n19, the sole voter with
    // three learners, led term 35 the moment it campaigned and sent 468/35 and 469/35 before the
    // term was on disk; it crashed, restarted in term 34, led term 35 again and put another
    // 469/35: the learners kept the first one. Log Matching caught it.
    seed: 1648,
    bug: 'raft: a sole voter sent entries of a term not yet durable, then led that term again',
  },
  {
    // src/raft membership (fixed in raft.ts handOutLimit; transcript conf-remove-two-voters.txt).
    // n3 of voters {n3, n5} removed n5 and applied it before its commit was on disk; the operator
    // saw it applied and stopped n5; n3 lost power, restarted from the older commit under {n3, n5}
    // and waited for n5's vote forever.
    seed: 1274,
    bug: 'raft: a leader applied a removal before its commit was durable; restarted, it needed the removed vote',
  },
];
