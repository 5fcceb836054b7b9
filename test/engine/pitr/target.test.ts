/**
 * The targets of a restore to a point (--to-zxid, --to-time, --exclusive, inspect --at) and where
 * they fall in a repository's windows: the newest base at or before the target, the segments up to
 * it, and the refusals with the restorable windows.
 */
import {expect} from 'chai'

import type {BaseRecord, RepositoryContent, SegmentRecord} from '../../../src/engine/archive/repository.js'

import {locate} from '../../../src/engine/pitr/locate.js'
import {parseAt, parseTarget} from '../../../src/engine/pitr/target.js'
import {UsageError} from '../../../src/errors.js'

const NOW = Date.parse('2026-12-01T15:00:00Z')

describe('pitr targets', () => {
  it('parses --to-zxid in hex or decimal and --to-time in ISO 8601 with a zone or as a time ago, inclusive unless --exclusive', () => {
    expect(parseTarget({'to-zxid': '0x1a'})).to.deep.include({inclusive: true, kind: 'zxid', zxid: 0x1an})
    expect(parseTarget({exclusive: true, 'to-zxid': '26'})).to.deep.include({inclusive: false, zxid: 26n})
    expect(parseTarget({inclusive: true, 'to-zxid': '26'})).to.deep.include({inclusive: true, zxid: 26n})
    const at = Date.parse('2026-12-01T14:02:59.123Z')
    expect(parseTarget({'to-time': '2026-12-01T14:02:59.123Z'})).to.deep.include({kind: 'time', time: at})
    expect(parseTarget({'to-time': '2026-12-01T15:02:59.123+01:00'})).to.deep.include({time: at})
    expect(parseTarget({'to-time': '2026-12-01T15:02:59.123456+0100'})).to.deep.include({time: at})
    expect(parseTarget({'to-time': '15m ago'}, NOW)).to.deep.include({time: NOW - 15 * 60_000})
    expect(parseTarget({'to-time': '2h ago'}, NOW)).to.deep.include({time: NOW - 2 * 3_600_000})
    expect(parseTarget({})).to.equal(undefined)
    expect(parseAt('0x1a')).to.deep.include({kind: 'zxid', zxid: 0x1an})
    expect(parseAt('2h ago', NOW)).to.deep.include({kind: 'time', time: NOW - 2 * 3_600_000})
  })

  it('refuses bad input with a UsageError naming the flag and the form expected', () => {
    const refused = (flags: Parameters<typeof parseTarget>[0]) => {
      try {
        parseTarget(flags, NOW)
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError)
        return (error as Error).message
      }

      throw new Error('not refused')
    }

    expect(refused({'to-zxid': 'abc'})).to.match(/^Invalid --to-zxid "abc": use a zxid as ZooKeeper prints it/)
    expect(refused({'to-zxid': '0x'})).to.match(/^Invalid --to-zxid/)
    expect(refused({'to-time': '2026-12-01T14:02:59'})).to.match(/^Invalid --to-time "[^"]+": use an ISO 8601 time/)
    expect(refused({'to-time': 'yesterday'})).to.match(/^Invalid --to-time/)
    expect(refused({'to-time': '2026-13-45T14:02:59Z'})).to.match(/^Invalid --to-time/)
    expect(refused({'to-time': '15m ago', 'to-zxid': '0x1'})).to.match(/not both/)
    expect(refused({exclusive: true})).to.match(/^--exclusive is for --to-zxid or --to-time/)
    expect(refused({inclusive: true})).to.match(/^--inclusive is for --to-zxid or --to-time/)
  })
})

const time = (second: number) => new Date(Date.parse('2026-12-01T14:00:00Z') + second * 1000).toISOString()

function base(zxid: number, second: number, extra: Partial<BaseRecord> = {}): BaseRecord {
  return {
    archive: `base-${zxid}.tar.gz`,
    archiveBytes: 1,
    format: 'dcos-zk-archive',
    reason: 'first',
    takenAt: time(second),
    time: time(second),
    zxid: `0x${zxid.toString(16)}`,
    ...extra,
  }
}

function segment(after: number, from: number, to: number, fromSecond: number, toSecond: number): SegmentRecord {
  const hex = (zxid: number) => `0x${zxid.toString(16)}`
  return {
    after: hex(after),
    bytes: 1,
    count: to - from + 1,
    dbid: '0x0',
    format: 'dcos-zk-archive',
    fromTime: time(fromSecond),
    fromZxid: hex(from),
    sha256: '',
    sourceLog: 'log.1',
    toTime: time(toSecond),
    toZxid: hex(to),
  }
}

describe('pitr locate', () => {
  // A first base at 0x10, segments to 0x40; a scheduled base at 0x28 (continues 0x20), whose
  // window runs on with the same segments; a gap; a base at 0x80 after the logs were lost.
  const content: RepositoryContent = {
    bases: [
      base(0x10, 0),
      base(0x28, 25, {continues: '0x20', reason: 'scheduled'}),
      base(0x80, 100, {gapAfter: '0x40', reason: 'gap'}),
    ],
    segments: [segment(0x10, 0x11, 0x20, 11, 20), segment(0x20, 0x21, 0x30, 21, 30), segment(0x30, 0x31, 0x40, 31, 40)],
  }
  const zxidTarget = (zxid: number, inclusive = true) => ({
    inclusive,
    kind: 'zxid' as const,
    label: 'z',
    zxid: BigInt(zxid),
  })

  it('picks the newest base at or before the target and the segments up to the one holding it', () => {
    const early = locate(content, zxidTarget(0x15))
    expect([early.base.zxid, early.segments.map((s) => s.fromZxid), early.untilZxid]).to.deep.equal([
      '0x10',
      ['0x11'],
      0x15n,
    ])
    const late = locate(content, zxidTarget(0x35))
    expect([late.base.zxid, late.segments.map((s) => s.fromZxid)]).to.deep.equal(['0x28', ['0x21', '0x31']])
    expect(locate(content, zxidTarget(0x29, false))).to.deep.include({untilZxid: 0x28n, segments: []})
    expect(locate(content, zxidTarget(0x80)).base.zxid).to.equal('0x80')
    const byTime = locate(content, {inclusive: true, kind: 'time', label: 't', time: Date.parse(time(33))})
    expect([byTime.base.zxid, byTime.segments.map((s) => s.fromZxid)]).to.deep.equal(['0x28', ['0x21', '0x31']])
  })

  it('refuses a target before the oldest base, in the gap, or after the end, listing the windows', () => {
    const windows = `restorable windows: 0x10 (${time(0)})..0x40 (${time(40)}), 0x28 (${time(25)})..0x40 (${time(40)}), 0x80 (${time(100)})..0x80 (${time(100)})`
    expect(() => locate(content, zxidTarget(0xf))).to.throw(
      UsageError,
      `z is before the oldest base's consistent point: nothing was touched; ${windows}`,
    )
    expect(() => locate(content, zxidTarget(0x50))).to.throw(
      UsageError,
      `z is inside a gap of the archive: nothing was touched; ${windows}`,
    )
    expect(() => locate(content, zxidTarget(0x81))).to.throw(UsageError, 'z is after the last shipped transaction')
    expect(() => locate(content, zxidTarget(0x10, false))).to.throw(
      UsageError,
      'z (exclusive) is before the oldest base',
    )
    expect(() => locate(content, {inclusive: true, kind: 'time', label: 't', time: Date.parse(time(60))})).to.throw(
      UsageError,
      't is inside a gap',
    )
  })
})
