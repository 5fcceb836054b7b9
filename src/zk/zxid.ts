/** A zxid (or a session id) as ZooKeeper's tools print it: 0x and lower-case hex digits. */
export const hexZxid = (zxid: bigint | number): string => `0x${zxid.toString(16)}`

/** Orders zxids (bigints, or their decimal or 0x strings) oldest first, for sort(). */
export const compareZxid = (a: bigint | string, b: bigint | string): number => {
  const [x, y] = [BigInt(a), BigInt(b)]
  return x < y ? -1 : x > y ? 1 : 0
}

/** `next` is the txn right after `zxid`: the next counter of its epoch, or the first of a later epoch. */
export const followsZxid = (next: bigint, zxid: bigint): boolean =>
  next === zxid + 1n || (next >> 32n > zxid >> 32n && (next & 0xff_ff_ff_ffn) === 1n)
