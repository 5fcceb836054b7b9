import {expect} from 'chai'
import {Chalk} from 'chalk'

import type {NodeStatus} from '../../src/engine/health.js'

import {coloursFor, paintState, paintVerdict} from '../../src/cli/colour.js'
import {formatTable} from '../../src/commands/cluster/status.js'

const NODES = [
  {host: 'a:2181', leader: true, mode: 'leader', status: 'serving', zxid: '0x10', znodes: 5},
  {host: 'bb:2181', leader: false, problem: 'connection refused', status: 'unreachable'},
] as NodeStatus[]

describe('status colours', () => {
  it('are off for a pipe, and for a terminal when NO_COLOR is set', () => {
    expect(coloursFor({isTTY: false}, {}).level).to.equal(0)
    expect(coloursFor({isTTY: true}, {NO_COLOR: '1'}).level).to.equal(0)
    expect(paintVerdict(coloursFor({isTTY: false}, {}), false, 'not healthy')).to.equal('not healthy')
  })

  it('colour only the status cells and the verdict, keeping the columns aligned as without colours', () => {
    const colours = new Chalk({level: 1})
    const plain = formatTable(NODES, false)
    const painted = formatTable(
      NODES,
      false,
      (text) => text,
      (state, cell) => paintState(colours, state, cell),
    )
    expect(painted).to.not.equal(plain)
    expect(painted.replaceAll(/\u001B\[\d+m/g, '')).to.equal(plain)
    expect(painted).to.include(colours.green('serving    ')).and.include(colours.red('unreachable'))
    expect(paintVerdict(colours, true, 'healthy')).to.equal(colours.green('healthy'))
  })
})
