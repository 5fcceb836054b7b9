import type {Acl} from '../zk/types.js'

/** Writes Jute's binary encoding (big-endian; buffers and strings prefixed by an int length) into a list of chunks. */
export class JuteWriter {
  private readonly chunks: Buffer[] = []
  private size = 0

  /** Bytes written so far. */
  get length(): number {
    return this.size
  }

  acl(acl: Acl[]): this {
    this.int(acl.length)
    for (const entry of acl) this.int(entry.perms).string(entry.scheme).string(entry.id)
    return this
  }

  /** Adds what `other` holds after what this one holds. */
  append(other: JuteWriter): this {
    this.chunks.push(...other.chunks)
    this.size += other.size
    return this
  }

  bool(value: boolean): this {
    return this.push(1, (buffer) => buffer.writeUInt8(value ? 1 : 0))
  }

  buffer(value: Buffer): this {
    this.int(value.length)
    this.chunks.push(value)
    this.size += value.length
    return this
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks)
  }

  int(value: number): this {
    return this.push(4, (buffer) => buffer.writeInt32BE(value))
  }

  long(value: bigint): this {
    return this.push(8, (buffer) => buffer.writeBigInt64BE(value))
  }

  /** The bytes, prefixed with their length as the wire protocol frames them. */
  packet(): Buffer {
    return Buffer.concat([new JuteWriter().int(this.size).bytes(), ...this.chunks])
  }

  string(value: string): this {
    return this.buffer(Buffer.from(value, 'utf8'))
  }

  private push(size: number, write: (buffer: Buffer) => void): this {
    const buffer = Buffer.alloc(size)
    write(buffer)
    this.chunks.push(buffer)
    this.size += size
    return this
  }
}
