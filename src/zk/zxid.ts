/** A zxid (or a session id) as ZooKeeper's tools print it: 0x and lower-case hex digits. */
export const hexZxid = (zxid: bigint | number): string => `0x${zxid.toString(16)}`
