import {expect} from 'chai'
import {join} from 'node:path'

import type {StorageProvider} from '../../src/providers/index.js'

import {UsageError} from '../../src/errors.js'
import {registeredSchemes, registerProvider, resolveLocation} from '../../src/providers/index.js'

function usageError(location: string): UsageError {
  try {
    resolveLocation(location)
  } catch (error) {
    expect(error).to.be.instanceOf(UsageError)
    return error as UsageError
  }

  return expect.fail(`${location} was accepted`)
}

describe('provider registry', () => {
  it('registers file, s3 and - by loading the providers', () => {
    expect(registeredSchemes()).to.include.members(['-', 'file', 's3'])
  })

  it('resolves each form of location to its provider', () => {
    expect(resolveLocation('-').scheme).to.equal('-')
    expect(resolveLocation('/tmp/zk.tar.gz').scheme).to.equal('file')
    expect(resolveLocation('relative/zk.tar.gz').display).to.equal(join(process.cwd(), 'relative/zk.tar.gz'))
    expect(resolveLocation('file:///tmp/zk.tar.gz').display).to.equal('/tmp/zk.tar.gz')
    expect(resolveLocation('s3://bucket/zk.tar.gz').scheme).to.equal('s3')
    expect(resolveLocation('S3://bucket/zk.tar.gz').display).to.equal('s3://bucket/zk.tar.gz')
  })

  it('dispatches a newly registered scheme to its factory', () => {
    const provider = {scheme: 'registry-test', display: 'registry-test://x'} as StorageProvider
    const seen: string[] = []
    registerProvider('registry-test', (location) => {
      seen.push(location)
      return provider
    })

    expect(resolveLocation('Registry-Test://x/y')).to.equal(provider)
    expect(seen).to.deep.equal(['Registry-Test://x/y'])
  })

  it('rejects an unknown scheme, redacting the location', () => {
    expect(usageError('ftp://x/y').message).to.equal(
      'Unknown storage scheme "ftp" in ftp://x/y: use a path, file:///abs/path, s3://bucket/key or -',
    )
    expect(usageError('ftp://user:hunter2@x/y?token=abc123').message).to.equal(
      'Unknown storage scheme "ftp" in ftp://user:***@x/y?token=***: use a path, file:///abs/path, s3://bucket/key or -',
    )
  })

  it('rejects an empty location', () => {
    expect(usageError('').message).to.match(/^No storage location given/)
    expect(usageError('  ').message).to.match(/^No storage location given/)
  })

  it('rejects file:// locations that are not local absolute paths', () => {
    expect(usageError('file://backup-host/x.tar.gz').message).to.include('not host "backup-host"')
    for (const location of [
      'file://relative/x.tar.gz',
      'file://./x.tar.gz',
      'file://',
      'file://localhost',
      'file:///a%2Fb',
    ]) {
      expect(usageError(location).message, location).to.match(/file:\/\/\/abs\/path|host|encoded/)
    }
  })

  it('rejects malformed s3 locations without showing secrets', () => {
    const cases: Array<[string, string]> = [
      ['s3://', 'Missing bucket'],
      ['s3:///zk.tar.gz', 'Missing bucket'],
      ['s3://Bad_Bucket/zk.tar.gz', 'Invalid bucket name "Bad_Bucket"'],
      ['s3://ab/zk.tar.gz', 'Invalid bucket name "ab"'],
      ['s3://a..b/zk.tar.gz', 'Invalid bucket name "a..b"'],
      [
        's3://bucket/zk.tar.gz?secret_kye=SECRETVALUE',
        'Unknown parameter "secret_kye" in s3://bucket/zk.tar.gz: use region',
      ],
      ['s3://bucket/zk.tar.gz?access_key=AKIASECRETVALUE', 'Incomplete credentials'],
      ['s3://bucket/zk.tar.gz?secret_key=SECRETVALUE', 'Incomplete credentials'],
      ['s3://bucket/zk.tar.gz?session_token=SECRETVALUE', 'Incomplete credentials'],
      [
        's3://bucket/zk.tar.gz?access_key=A&secret_key=SECRETVALUE&endpoint=ftp://host',
        'Invalid endpoint "ftp://host"',
      ],
      ['s3://bucket/zk.tar.gz?endpoint=localhost:9000', 'Invalid endpoint "localhost:9000"'],
      ['s3://bucket/zk.tar.gz?access_key=A&secret_key=%E0%A4%A', 'Malformed value of secret_key'],
    ]
    for (const [location, expected] of cases) {
      const {message} = usageError(location)
      expect(message, location).to.include(expected)
      expect(message, location).not.to.include('SECRETVALUE')
    }
  })
})
