/** A zxid (or a session id) as ZooKeeper's tools print it: 0x and lower-case hex digits. */
export const hexZxid = (zxid: number | bigint): string => `0x${zxid.toString(16)}`
