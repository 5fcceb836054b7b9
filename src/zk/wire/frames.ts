/** Splits a byte stream into the protocol's packets (an int length, then that many bytes). */
export class FrameReader {
  private chunks: Buffer[] = []
  private buffered = 0
  private expected = -1

  constructor(private readonly onFrame: (frame: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < 4) return
        this.expected = this.take(4).readInt32BE(0)
      }

      if (this.buffered < this.expected) return
      const frame = this.take(this.expected)
      this.expected = -1
      this.onFrame(frame)
    }
  }

  private take(count: number): Buffer {
    const first = this.chunks[0]
    let taken: Buffer
    if (first.length >= count) {
      taken = first.subarray(0, count)
      if (first.length === count) this.chunks.shift()
      else this.chunks[0] = first.subarray(count)
    } else {
      const all = Buffer.concat(this.chunks)
      taken = all.subarray(0, count)
      this.chunks = all.length > count ? [all.subarray(count)] : []
    }

    this.buffered -= count
    return taken
  }
}
