/** Milliseconds since the epoch. Production passes Date.now; tests pass a clock they move. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();
