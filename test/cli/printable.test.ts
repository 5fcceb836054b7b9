import {expect} from 'chai'

import {promptText} from '../../src/cli/confirm.js'
import {forStream, inertJson, printable} from '../../src/cli/printable.js'

describe('printable text', () => {
  it('shows C0, DEL, C1, line separators and bidi overrides as escapes, on one line', () => {
    expect(printable('a\nb\rc\td\u0000e\u001B[31mf\u007Fg\u0080h\u009Bi\u2028j\u202Ek')).to.equal(
      String.raw`a\nb\rc\td\x00e\x1b[31mf\x7fg\x80h\x9bi\u2028j\u202ek`,
    )
  })

  it('leaves other text alone: Unicode, quotes, backslashes', () => {
    for (const text of ['ünïcødé-名前', 'with space', 'a:b=c&d?e#f', String.raw`back\slash`, '"quoted"', ''])
      expect(printable(text)).to.equal(text)
  })

  it('asks a confirmation with each line of the question escaped, its own line breaks kept', () => {
    expect(promptText('Restore into /a\u001B[2Jb?\nDelete /c\rOK')).to.equal(
      'Restore into /a\\x1b[2Jb?\nDelete /c\\rOK [y/N] ',
    )
  })

  it('escapes only for a terminal', () => {
    expect(forStream('a\u001Bb', {isTTY: true})).to.equal(String.raw`a\x1bb`)
    expect(forStream('a\u001Bb', {isTTY: false})).to.equal('a\u001Bb')
    expect(forStream('a\u001Bb', {})).to.equal('a\u001Bb')
  })

  it('makes JSON inert without changing what it parses to', () => {
    const value = {id: 'x\u007F\u0085\u009B\u2028\u202E\u001B\n'}
    const json = inertJson(JSON.stringify(value))

    expect(json).not.to.match(/[\u0000-\u001F\u007F-\u009F\u2028\u202E]/)
    expect(JSON.parse(json)).to.deep.equal(value)
  })
})
