import type {Readable} from 'node:stream'

import type {ObjectInfo, StorageProvider, WriteOptions} from './types.js'

/**
 * A provider seen differently: another display name, or a first read answered by a stream already
 * opened (an archive whose first bytes were looked at to tell its kind). Everything else is the
 * provider's own.
 */
export class ProviderView implements StorageProvider {
  readonly display: string
  private opened?: Readable

  constructor(
    private readonly provider: StorageProvider,
    view: {display?: string; opened?: Readable},
  ) {
    this.display = view.display ?? provider.display
    this.opened = view.opened
  }

  get scheme(): string {
    return this.provider.scheme
  }

  child(name: string): StorageProvider {
    return this.provider.child(name)
  }

  delete(): Promise<void> {
    return this.provider.delete()
  }

  list(): Promise<ObjectInfo[]> {
    return this.provider.list()
  }

  async read(): Promise<Readable> {
    const {opened} = this
    this.opened = undefined
    return opened ?? this.provider.read()
  }

  /** Closes the stream opened ahead, when it will not be read. */
  release(): void {
    this.opened?.destroy()
    this.opened = undefined
  }

  stat(): Promise<ObjectInfo | undefined> {
    return this.provider.stat()
  }

  write(source: Readable, options?: WriteOptions): Promise<number> {
    return this.provider.write(source, options)
  }
}
