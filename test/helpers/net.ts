import {readdir, readFile, readlink} from 'node:fs/promises'
import * as net from 'node:net'

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A TCP server that accepts connections and never answers, like a hung ZooKeeper. */
export async function silentServer(): Promise<{close(): Promise<void>; port: number}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => sockets.add(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
    port: (server.address() as net.AddressInfo).port,
  }
}

/** An established TCP connection of a process: its own port and the peer's. */
export interface Connection {
  localPort: number
  remotePort: number
}

/**
 * The established TCP connections of process `pid` (Linux: its socket descriptors in
 * /proc/<pid>/fd matched against /proc/net/tcp{,6}).
 */
export async function connectionsOf(pid: number): Promise<Connection[]> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [])
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))
  const inodes = new Set(
    links.map((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1]).filter((inode) => inode !== undefined),
  )
  const connections: Connection[] = []
  const port = (address: string) => Number.parseInt(address.split(':')[1], 16)
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)
    for (const line of lines) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/)
      const [local, remote, state, inode] = [fields[1], fields[2], fields[3], fields[9]]
      if (state === '01' && inodes.has(inode)) connections.push({localPort: port(local), remotePort: port(remote)})
    }
  }

  return connections
}

/** The remote ports of the established TCP connections of process `pid`: which ZooKeeper nodes a CLI is connected to. */
export async function connectedPorts(pid: number): Promise<number[]> {
  return (await connectionsOf(pid)).map((connection) => connection.remotePort)
}
