/**
 * Secrets on the command line never reach the output, whatever fails: oclif's own parse errors
 * (which quote the command line), errors before any command runs, --json, and the DEBUG log.
 */
import {expect} from 'chai'

import {type CliResult, dcos, expectExit} from '../helpers/cli.js'
import {secret} from '../helpers/secrets.js'

// Each holds a character at which redaction by pattern used to stop ("#", " ", ": ").
const s3Secret = secret('s3cr#t k: ey-tail-of-it')
const accessKey = secret('AKIAARGVSECRET')
const zkPassword = secret('zkpass/wordly-secret')
const zkAuthPassword = secret('digest-pass-word')
const token = secret('acs-token-value-1234')
const location = `s3://bucket/zk.tar.gz?access_key=${accessKey}&secret_key=${s3Secret}`

/** Fails naming the piece of a secret the output holds: a secret or any part of it between "#", " ", ":" and "/". */
function expectNoSecrets(result: CliResult): void {
  const output = `${result.stdout}\n${result.stderr}`
  for (const value of [s3Secret, accessKey, zkPassword, zkAuthPassword, token]) {
    for (const piece of [value, ...value.split(/[#: /]+/).filter((part) => part.length >= 4)]) {
      expect(output, `the output holds "${piece}"`).not.to.include(piece)
    }
  }
}

describe('secrets on the command line', function () {
  this.timeout(60_000)

  const parseErrors: Array<[string, string[]]> = [
    ['an unexpected argument', ['zk', 'backup', '/tmp/never-written.tar.gz', location]],
    ["a value outside a flag's options", ['zk', 'backup', '/tmp/never-written.tar.gz', '--batch', location]],
    ['a value that is not an integer', ['zk', 'backup', '/tmp/never-written.tar.gz', '--session-timeout', location]],
    ['an unknown flag', ['zk', 'backup', '/tmp/never-written.tar.gz', `--${location}`]],
    ['an unknown flag with a value', ['zk', 'backup', '/tmp/never-written.tar.gz', `--bogus=${location}`]],
    ['a missing required argument', ['zk', 'restore', '--zk-auth', `user:${zkAuthPassword}`, '--zk', 'h']],
    [
      '--zk-auth taken as the value of another flag',
      ['zk', 'backup', '/tmp/never-written.tar.gz', '--batch', `--zk-auth=user:${zkAuthPassword}`],
    ],
    [
      '--token taken as the value of another flag',
      ['backup', 'list', '--url', 'http://127.0.0.1:1', '--request-timeout', `--token=${token}`],
    ],
    ['a location among the arguments of a flag', ['zk', 'backup', location, '--exclude']],
  ]
  for (const [name, args] of parseErrors) {
    it(`${name}: exit 2, the secrets masked (also with --json)`, async () => {
      expectNoSecrets(expectExit(await dcos(args), 2))
      expectNoSecrets(expectExit(await dcos([...args, '--json']), 2))
    })
  }

  it('an unknown command: exit 2, and its DEBUG log masks the command line', async () => {
    const result = expectExit(
      await dcos(['zk', 'no-such-command', location, '--zk-auth', `user:${zkAuthPassword}`], {env: {DEBUG: '*'}}),
      2,
    )
    expect(result.stderr).to.include('not found')
    expectNoSecrets(result)
  })

  it('DEBUG shows the command line and stack of a failed command masked', async () => {
    const result = expectExit(
      await dcos(
        [
          'zk',
          'backup',
          location,
          '--zk',
          '127.0.0.1:1',
          '--zk-auth',
          `user:${zkAuthPassword}`,
          '--session-timeout',
          '1',
        ],
        {env: {DEBUG: '*'}},
      ),
      1,
    )
    expect(result.stderr).to.include('secret_key=***')
    expectNoSecrets(result)
  })

  for (const zk of [
    `admin:${zkPassword}@zk-1/path`,
    `zk://admin:${zkPassword}@zk-1/path`,
    `admin:${zkPassword}@zk-1`,
  ]) {
    it(`--zk ${zk.replace(zkPassword, '<password>')}: refused naming --zk-auth, without a piece of the password`, async () => {
      const result = expectExit(await dcos(['zk', 'backup', '/tmp/never-written.tar.gz', '--zk', zk]), 2)
      expect(result.stderr.trim()).to.equal(
        'Error: Credentials do not belong in the ZooKeeper URI: pass them with --zk-auth user:password',
      )
      expectNoSecrets(result)
    })
  }

  it('secrets in the environment are masked too (DCOS_ZK_AUTH, DCOS_ACS_TOKEN)', async () => {
    const env = {DCOS_ACS_TOKEN: token, DCOS_ZK_AUTH: `user:${zkAuthPassword}`, DEBUG: '*'}
    expectNoSecrets(
      expectExit(
        await dcos(['zk', 'backup', '/tmp/never-written.tar.gz', '--batch', `user:${zkAuthPassword}`], {env}),
        2,
      ),
    )
    expectNoSecrets(
      expectExit(await dcos(['backup', 'list', '--url', 'http://127.0.0.1:1', '--bogus', token], {env}), 2),
    )
  })
})
