import {lookup} from 'node:dns/promises'

import {UsageError} from '../errors.js'

/**
 * Fails at once, naming them, when none of the hosts ("name:port", or several joined by commas)
 * resolves: the ZooKeeper client would retry them until its connect timeout. One unresolvable host
 * among others is left to the client, which connects to the rest.
 */
export async function checkResolvable(hosts: string[]): Promise<void> {
  const names = hosts
    .flatMap((host) => host.split(','))
    .map((host) =>
      host
        .trim()
        .replace(/:\d*$/, '')
        .replace(/^\[(.*)\]$/, '$1'),
    )
  const resolved = await Promise.all(
    names.map((name) =>
      lookup(name).then(
        () => true,
        () => false,
      ),
    ),
  )
  if (resolved.includes(true)) return
  throw new UsageError(
    `Cannot resolve the ZooKeeper host${names.length > 1 ? 's' : ''} ${names.join(', ')}: check the names in --zk`,
  )
}
