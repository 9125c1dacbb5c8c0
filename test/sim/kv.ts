import type { Index } from '../../src/lib/ids.js';
import type { SnapshotSource, StateMachine } from '../../src/raft/index.js';

/**
 * The simulator's replicated state machine: a string map with put and append. Commands travel
 * in log entries as printable text (`put|k2|c3.17`), so traces show them as they are. Values
 * are unique per write, which makes the linearizability search fast and its failures readable.
 */

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'append'; readonly key: string; readonly value: string };

/** APPEND_SEPARATOR goes between appended values, so a read shows every append it saw. */
export const APPEND_SEPARATOR = ',';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(c: KvCommand): Uint8Array {
  return encoder.encode(`${c.op}|${c.key}|${c.value}`);
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  const [op, key, value, ...rest] = decoder.decode(data).split('|');
  if ((op !== 'put' && op !== 'append') || key === undefined || value === undefined || rest.length > 0) {
    throw new Error(`undecodable kv command ${JSON.stringify(decoder.decode(data))}`);
  }
  return { op, key, value };
}

/**
 * applyKvCommand is the state machine's transition. checkers/kv-model.ts states the same
 * semantics on its own for the linearizability checker, so a slip in one shows as a mismatch.
 */
export function applyKvCommand(current: string | null, c: KvCommand): string {
  if (c.op === 'put' || current === null || current === '') return c.value;
  return `${current}${APPEND_SEPARATOR}${c.value}`;
}

/**
 * SimKv is one node's state machine (StateMachine, as RoomRegistry is in production): a crash
 * loses it, a restart restores the node's newest snapshot. A snapshot is canonical JSON of the
 * sorted map, so two snapshots of one state have the same bytes.
 */
export class SimKv implements StateMachine {
  private data = new Map<string, string>();

  apply(_index: Index, payload: Uint8Array, _entryTimeMs: number): Uint8Array {
    const c = decodeKvCommand(payload);
    this.data.set(c.key, applyKvCommand(this.data.get(c.key) ?? null, c));
    return new Uint8Array(0);
  }

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  captureSnapshot(): SnapshotSource {
    let bytes: Uint8Array | null = encoder.encode(this.digest());
    return {
      nextChunk: (maxBytes) => {
        if (bytes === null || bytes.byteLength === 0) return null;
        const chunk = bytes.subarray(0, Math.max(1, Math.min(maxBytes, KV_SNAPSHOT_CHUNK_BYTES)));
        bytes = bytes.subarray(chunk.byteLength);
        return chunk;
      },
      close: () => {
        bytes = null;
      },
    };
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    this.data = new Map(JSON.parse(decoder.decode(Buffer.concat(parts))) as Array<[string, string]>);
  }

  digest(): string {
    return kvDigest(this.data);
  }
}

/** KV_SNAPSHOT_CHUNK_BYTES: small, so snapshots stream in several slices, each a turn apart. */
const KV_SNAPSHOT_CHUNK_BYTES = 256;

export function kvDigest(data: ReadonlyMap<string, string>): string {
  return JSON.stringify([...data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
