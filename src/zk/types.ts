/**
 * ZooKeeper's client-side vocabulary: stats, ACLs, create flags, permissions and error codes (the
 * C client's names and values, as zookeeper.h defines them), and the error that carries a code.
 */
import {OperationError} from '../errors.js'

export interface Stat {
  aversion: number
  ctime: Date
  cversion: number
  czxid: number
  dataLength: number
  /** Hex, as the C client formats it (%llx). Also encodes container and TTL node types. */
  ephemeralOwner: string
  mtime: Date
  mzxid: number
  numChildren: number
  pzxid: number
  version: number
}

export interface Acl {
  id: string
  perms: number
  scheme: string
}

const PERM_CONSTANTS = {
  ZOO_PERM_ADMIN: 16,
  ZOO_PERM_ALL: 31,
  ZOO_PERM_CREATE: 4,
  ZOO_PERM_DELETE: 8,
  ZOO_PERM_READ: 1,
  ZOO_PERM_WRITE: 2,
} as const

/** Create flags: ZOO_EPHEMERAL and ZOO_SEQUENCE are bits; container and the TTL types are values of their own. */
const CREATE_FLAGS = {
  ZOO_CONTAINER: 4,
  ZOO_EPHEMERAL: 1,
  ZOO_EPHEMERAL_SEQUENTIAL: 3,
  ZOO_PERSISTENT: 0,
  ZOO_PERSISTENT_SEQUENTIAL: 2,
  ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL: 6,
  ZOO_PERSISTENT_WITH_TTL: 5,
  ZOO_SEQUENCE: 2,
} as const

/** The error codes of ReplyHeader.err (KeeperException.Code). */
const ERROR_CODES = {
  ZAPIERROR: -100,
  ZAUTHFAILED: -115,
  ZBADARGUMENTS: -8,
  ZBADVERSION: -103,
  ZCLOSING: -116,
  ZCONNECTIONLOSS: -4,
  ZDATAINCONSISTENCY: -3,
  ZINVALIDACL: -114,
  ZINVALIDCALLBACK: -113,
  ZINVALIDSTATE: -9,
  ZMARSHALLINGERROR: -5,
  ZNOAUTH: -102,
  ZNOCHILDRENFOREPHEMERALS: -108,
  ZNODEEXISTS: -110,
  ZNONODE: -101,
  ZNOTEMPTY: -111,
  ZNOTHING: -117,
  ZOK: 0,
  ZOPERATIONTIMEOUT: -7,
  ZRUNTIMEINCONSISTENCY: -2,
  ZSESSIONEXPIRED: -112,
  ZSESSIONMOVED: -118,
  ZSYSTEMERROR: -1,
  ZUNIMPLEMENTED: -6,
} as const

export const zkConstants = {...PERM_CONSTANTS, ...CREATE_FLAGS, ...ERROR_CODES} as const

export const OPEN_ACL: Acl[] = [{id: 'anyone', perms: zkConstants.ZOO_PERM_ALL, scheme: 'world'}]

const ERROR_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ERROR_CODES).map(([name, code]) => [code, name]),
)

/** A ZooKeeper error code with the path it happened on. */
export class ZkError extends OperationError {
  constructor(
    readonly code: number,
    readonly path: string,
    operation: string,
  ) {
    super(describeZkError(code, path, operation))
    this.name = 'ZkError'
  }
}

function describeZkError(code: number, path: string, operation: string): string {
  if (code === zkConstants.ZNOAUTH) {
    return `Not authorized to ${operation} ${path}: pass credentials with --zk-auth user:password (or DCOS_ZK_AUTH)`
  }

  const name = ERROR_NAMES[code] ?? `error ${code}`
  return `ZooKeeper ${operation} ${path} failed: ${name}`
}
