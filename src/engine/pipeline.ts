/**
 * Keeps up to `limit` requests in flight, started in the order they are added. ZooKeeper applies a
 * session's requests in the order they were sent, so a create of a parent added before its children
 * is applied before them without waiting for its answer.
 */
export class Pipeline {
  private active = 0
  private failure: unknown
  private readonly waiting: Array<() => void> = []

  constructor(private readonly limit: number) {}

  /** Waits for room, then starts `task`. Throws the first failure of any task added so far. */
  async add(task: () => Promise<unknown>): Promise<void> {
    while (this.active >= this.limit && this.failure === undefined) {
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }

    if (this.failure !== undefined) throw this.failure
    this.active++
    task()
      .catch((error: unknown) => {
        this.failure ??= error
      })
      .finally(() => {
        this.active--
        for (const wake of this.waiting.splice(0)) wake()
      })
  }

  /** Waits until every task has settled; throws the first failure. */
  async drain(): Promise<void> {
    while (this.active > 0) {
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }

    if (this.failure !== undefined) throw this.failure
  }

  /**
   * Runs `task` on each item and waits for all of them; on the first failure it still waits for
   * every task in flight before throwing, so nothing of it is left running behind the caller.
   */
  async run<T>(items: Iterable<T>, task: (item: T) => Promise<unknown>): Promise<void> {
    try {
      for (const item of items) {
        await this.add(() => task(item))
      }
    } finally {
      await this.settle()
    }

    if (this.failure !== undefined) throw this.failure
  }

  /** Waits until every task has settled, without throwing. */
  async settle(): Promise<void> {
    while (this.active > 0) {
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }
}
