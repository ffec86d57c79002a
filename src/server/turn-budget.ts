/**
 * Most stream writes per event loop turn: a broadcast (or a ping round) to
 * ten thousand streams never holds the loop for all of them.
 */
export const SLICE_WRITES = 1000;
/**
 * And at most this long per turn: a socket write costs tens of microseconds
 * on a busy machine, so a slice of a thousand can take 40 ms, which a
 * request would wait for at each of its turns.
 */
export const SLICE_MS = 5;
// The clock is read every few writes, not every one; a write that reaches the socket costs far more than a read of it.
const CHECK_EVERY = 8;

/**
 * The writes one turn may still make. The writes it counts must reach the
 * socket in the turn (SseStream's `sendNow`), or the deadline would time
 * only the queueing and the syscalls would all land after it.
 */
export class TurnBudget {
  private left = SLICE_WRITES;
  private readonly until = performance.now() + SLICE_MS;

  /** Counts one write; false when this turn has spent its share and the rest waits for the next. */
  take(): boolean {
    if (this.left === 0) return false;
    if (this.left % CHECK_EVERY === 0 && this.left < SLICE_WRITES && performance.now() > this.until) return false;
    this.left--;
    return true;
  }
}
