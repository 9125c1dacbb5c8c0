import { LIMITS } from '../config/limits.js';
import { assert } from '../lib/assert.js';
import type { Message } from '../raft/index.js';

/** MESSAGE_OVERHEAD_BYTES: what one message costs beyond its entries' data (fields, object). */
const MESSAGE_OVERHEAD_BYTES = 128;

/**
 * Inbox holds the peer messages that arrived since the loop's last turn. While a log write
 * stalls the loop, peers keep sending, so it is bounded in count and bytes
 * (LIMITS.inboxMessagesMax, inboxBytesMax); past either, messages are dropped and counted.
 * Raft tolerates lost messages: the leader resends appends and heartbeats each tick.
 */
export class Inbox {
  private messages: Message[] = [];
  private bytes = 0;
  /** dropped counts messages refused because the inbox was full (exported as a metric). */
  dropped = 0;

  get size(): number {
    return this.messages.length;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** push queues what fits and returns how many messages it dropped. */
  push(messages: readonly Message[]): number {
    let dropped = 0;
    for (const m of messages) {
      const bytes = messageBytes(m);
      if (this.messages.length >= LIMITS.inboxMessagesMax || this.bytes + bytes > LIMITS.inboxBytesMax) {
        dropped++;
        continue;
      }
      this.messages.push(m);
      this.bytes += bytes;
    }
    this.dropped += dropped;
    assert(
      this.messages.length <= LIMITS.inboxMessagesMax && this.bytes <= LIMITS.inboxBytesMax,
      'inbox over its bounds',
    );
    return dropped;
  }

  /** take empties the inbox for the loop's turn. */
  take(): Message[] {
    const taken = this.messages;
    this.messages = [];
    this.bytes = 0;
    return taken;
  }
}

/** messageBytes estimates a message's memory: its entries' data plus a fixed overhead each. */
export function messageBytes(m: Message): number {
  if (m.type !== 'append') return MESSAGE_OVERHEAD_BYTES;
  let bytes = MESSAGE_OVERHEAD_BYTES;
  for (const e of m.entries) bytes += e.data.byteLength + MESSAGE_OVERHEAD_BYTES;
  return bytes;
}
