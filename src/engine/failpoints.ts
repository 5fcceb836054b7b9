/**
 * Failpoints, as etcd's gofail and TiKV's fail-rs have them: named places where a test makes the
 * engine fail on purpose, to prove what happens after (a restore's rollback, say).
 *
 *   DCOS_BACKUP_FAILPOINTS="restore.create=5,restore.check"
 *
 * fails the fifth time `restore.create` is reached and the first time `restore.check` is. Nothing
 * happens unless the variable is set.
 */
export class FailpointError extends Error {
  constructor(readonly point: string) {
    super(`failpoint ${point} reached (DCOS_BACKUP_FAILPOINTS)`)
    this.name = 'FailpointError'
  }
}

let parsedFrom: string | undefined
let armed = new Map<string, {at: number; hits: number}>()

export function failpoint(name: string): void {
  const spec = process.env.DCOS_BACKUP_FAILPOINTS
  if (!spec) return
  if (spec !== parsedFrom) {
    parsedFrom = spec
    armed = new Map(
      spec.split(',').map((item) => {
        const [point, at] = item.trim().split('=')
        return [point, {at: at === undefined ? 1 : Number(at), hits: 0}]
      }),
    )
  }

  const point = armed.get(name)
  if (point && ++point.hits === point.at) throw new FailpointError(name)
}
