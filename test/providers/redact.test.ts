import {expect} from 'chai'

import {redactLocation, redactSecrets} from '../../src/providers/index.js'

describe('redaction', () => {
  it('redacts secret query parameters, whatever their case', () => {
    expect(
      redactLocation(
        's3://b/k?region=eu-west-1&access_key=AKIA1&SECRET_KEY=abc%2Bdef&session_token=tok&endpoint=http://h:9000',
      ),
    ).to.equal('s3://b/k?region=eu-west-1&access_key=***&SECRET_KEY=***&session_token=***&endpoint=http://h:9000')
    expect(redactLocation('https://h/x?token=t1&password=p1#frag')).to.equal('https://h/x?token=***&password=***')
    expect(redactLocation('s3://b/k?secret_key=ab#cd&access_key=AK')).to.equal('s3://b/k?secret_key=***&access_key=***')
    expect(redactLocation('failed: password=hunter2 was refused')).to.equal('failed: password=*** was refused')
    expect(redactLocation('Cannot read s3://b/k?secret_key=a:b: Access Denied')).to.equal(
      'Cannot read s3://b/k?secret_key=***: Access Denied',
    )
  })

  it('leaves parameters that merely end in a secret name alone', () => {
    expect(redactLocation('s3://b/k?my_token=visible')).to.equal('s3://b/k?my_token=visible')
  })

  it('redacts the password of URI userinfo, also when it holds "@" or "/"', () => {
    expect(redactLocation('zk://admin:hunter2@zk1:2181,zk2:2181/chroot')).to.equal(
      'zk://admin:***@zk1:2181,zk2:2181/chroot',
    )
    expect(redactLocation('Cannot reach zk://admin:p@ss/w0rd@zk1:2181 now')).to.equal(
      'Cannot reach zk://admin:***@zk1:2181 now',
    )
    expect(redactLocation('s3://b/k?endpoint=http://user:pw@minio:9000')).to.equal(
      's3://b/k?endpoint=http://user:***@minio:9000',
    )
  })

  it('keeps locations without secrets as they are', () => {
    for (const location of [
      'zk://zk1:2181/chroot',
      'zk://user@zk1:2181',
      '/backups/zk@2024.tar.gz',
      's3://b/k?region=us-east-1',
      '-',
    ]) {
      expect(redactLocation(location)).to.equal(location)
    }
  })

  it('redacts literal secrets in any text, longest first', () => {
    expect(redactSecrets('key AKIA123 secret s3cr3t and s3cr3t again', ['AKIA123', 's3cr3t', ''])).to.equal(
      'key *** secret *** and *** again',
    )
    expect(redactSecrets('token abc-extended', ['abc', 'abc-extended'])).to.equal('token ***')
    expect(redactSecrets('nothing here', [])).to.equal('nothing here')
  })
})
