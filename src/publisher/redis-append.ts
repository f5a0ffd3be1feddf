import { createHash } from 'node:crypto';
import type { PublishError } from './contract.js';
import type { Ticket } from './in-flight.js';

/**
 * The Lua script that appends a batch of entries, one `XADD` each, in the order given: a batch
 * costs the client one command, one request and one reply instead of one of each per event.
 *
 * KEYS: per entry its stream, followed by its dedup key when deduplicating.
 * ARGV[1]: the `MAXLEN ~` of every stream, `0` for none. ARGV[2]: the dedup window in seconds,
 * `0` for none. Then per entry: how many field and value arguments follow, and those.
 *
 * Each entry's commands run with `redis.pcall`, so that a failing entry (a key that holds no
 * stream, `OOM`) does not stop the others. The reply names only the failures: for each, its
 * number in the batch (from 1) and the error Redis gave. An empty reply means that every entry
 * was appended or, with a dedup window, found already appended within it.
 */
export const APPEND_SCRIPT = `local maxLen = ARGV[1]
local window = ARGV[2]
local trim = maxLen ~= '0'
local dedup = window ~= '0'
local count = #ARGV
local failed = {}
local key = 1
local at = 3
local entry = 0
while at <= count do
  entry = entry + 1
  local last = at + tonumber(ARGV[at])
  if not (dedup and redis.call('EXISTS', KEYS[key + 1]) == 1) then
    local reply
    if trim then
      reply = redis.pcall('XADD', KEYS[key], 'MAXLEN', '~', maxLen, '*', unpack(ARGV, at + 1, last))
    else
      reply = redis.pcall('XADD', KEYS[key], '*', unpack(ARGV, at + 1, last))
    end
    if dedup and type(reply) == 'string' then
      reply = redis.pcall('SET', KEYS[key + 1], reply, 'EX', window)
    end
    if type(reply) == 'table' and reply.err then
      failed[#failed + 1] = entry
      failed[#failed + 1] = reply
    end
  end
  at = last + 1
  if dedup then key = key + 2 else key = key + 1 end
end
return failed`;

/** The script's SHA-1, by which `EVALSHA` runs it once Redis has it cached. */
export const APPEND_SCRIPT_SHA = createHash('sha1').update(APPEND_SCRIPT).digest('hex');

/**
 * The most field and value arguments of one entry: Lua's `unpack` hands at most about 8,000
 * values to a call (Redis 7), the command's own arguments included.
 */
export const MAX_ENTRY_ARGUMENTS = 7_900;

/** Events appended by one script call at most; a burst of publishes takes several calls. */
export const BATCH_SIZE = 100;

/** One publish waiting for the script call of its batch and for its entry's fate. */
export interface Waiter {
  readonly id: string;
  readonly stream: string;
  ticket: Ticket | undefined;
  readonly resolve: () => void;
  readonly reject: (error: PublishError) => void;
}

/** The publishes of one batch: the script's keys and arguments, and who waits on them. */
export class AppendBatch {
  readonly keys: string[] = [];
  /** The script's arguments: `MAXLEN`, the dedup window, then each entry's count and fields. */
  readonly argv: string[];
  readonly waiters: Waiter[] = [];

  /** `maxLen` and `dedupWindow` as the script reads them (`0`: none). */
  constructor(maxLen: string, dedupWindow: string) {
    this.argv = [maxLen, dedupWindow];
  }

  /** The arguments of `EVALSHA`: the script's SHA-1, the number of keys, keys, arguments. */
  evalshaArguments(): string[] {
    return [APPEND_SCRIPT_SHA, String(this.keys.length)].concat(this.keys, this.argv);
  }
}
