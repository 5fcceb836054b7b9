/**
 * Decompresses the stream format of snappy-java's SnappyOutputStream, which ZooKeeper uses for
 * snapshots when zookeeper.snapshot.compression.method=snappy: a 16-byte header (magic, version,
 * compatible version), then chunks of (int compressed length, raw Snappy block). A header may recur
 * where streams were concatenated. Throws an Error saying what is wrong.
 */
const MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const HEADER_LENGTH = 16

export function isSnappyStream(bytes: Buffer): boolean {
  return bytes.length >= MAGIC.length && bytes.subarray(0, MAGIC.length).equals(MAGIC)
}

export function snappyStreamDecompress(bytes: Buffer): Buffer {
  if (!isSnappyStream(bytes)) throw new Error('no snappy-java stream header')
  const blocks: Buffer[] = []
  let offset = HEADER_LENGTH
  while (offset < bytes.length) {
    if (bytes.length - offset >= MAGIC.length && bytes.subarray(offset, offset + MAGIC.length).equals(MAGIC)) {
      offset += HEADER_LENGTH
      continue
    }

    if (bytes.length - offset < 4) throw new Error(`truncated chunk length at byte ${offset}`)
    const length = bytes.readInt32BE(offset)
    offset += 4
    if (length < 0 || length > bytes.length - offset)
      throw new Error(`chunk of ${length} bytes at byte ${offset - 4} runs past the end`)
    blocks.push(snappyUncompress(bytes.subarray(offset, offset + length)))
    offset += length
  }

  return Buffer.concat(blocks)
}

/** A raw Snappy block: a varint of the uncompressed length, then literals and back references. */
export function snappyUncompress(block: Uint8Array): Buffer {
  const input = {bytes: block, offset: 0}
  const output = Buffer.alloc(readVarint(input))
  let written = 0
  while (input.offset < block.length) {
    const tag = block[input.offset++]
    if ((tag & 3) === 0) {
      const length = literalLength(tag, input)
      if (input.offset + length > block.length || written + length > output.length)
        throw new Error('literal runs past the end')
      output.set(block.subarray(input.offset, input.offset + length), written)
      input.offset += length
      written += length
      continue
    }

    const {distance, length} = backReference(tag, input)
    if (distance === 0 || distance > written || written + length > output.length)
      throw new Error('invalid back reference')
    for (let index = 0; index < length; index++, written++) output[written] = output[written - distance]
  }

  if (written !== output.length) throw new Error(`block holds ${written} bytes, its header says ${output.length}`)
  return output
}

interface Cursor {
  bytes: Uint8Array
  offset: number
}

function readVarint(input: Cursor): number {
  let value = 0
  for (let shift = 0; shift < 35; shift += 7) {
    if (input.offset >= input.bytes.length) throw new Error('truncated length')
    const byte = input.bytes[input.offset++]
    value += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) return value
  }

  throw new Error('invalid length')
}

function littleEndian(input: Cursor, count: number): number {
  if (input.offset + count > input.bytes.length) throw new Error('truncated element')
  let value = 0
  for (let index = 0; index < count; index++) value += input.bytes[input.offset + index] * 2 ** (8 * index)
  input.offset += count
  return value
}

function literalLength(tag: number, input: Cursor): number {
  const code = tag >> 2
  return (code < 60 ? code : littleEndian(input, code - 59)) + 1
}

function backReference(tag: number, input: Cursor): {distance: number; length: number} {
  switch (tag & 3) {
    case 1: {
      return {distance: ((tag >> 5) << 8) | littleEndian(input, 1), length: ((tag >> 2) & 7) + 4}
    }

    case 2: {
      return {distance: littleEndian(input, 2), length: (tag >> 2) + 1}
    }

    default: {
      return {distance: littleEndian(input, 4), length: (tag >> 2) + 1}
    }
  }
}
