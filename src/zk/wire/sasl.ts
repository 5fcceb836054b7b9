import {createHash, randomBytes} from 'node:crypto'

/** What ZooKeeper's server names itself in DIGEST-MD5 (its SaslServer's protocol and server name). */
const DIGEST_URI = 'zookeeper/zk-sasl-md5'
const NONCE_COUNT = '00000001'

/**
 * The client side of SASL DIGEST-MD5 (RFC 2831) against ZooKeeper's DigestLoginModule: one
 * challenge answered, then the server's rspauth checked. Authentication only (qop=auth).
 */
export class DigestMd5Client {
  private expectedRspauth?: string

  constructor(
    private readonly user: string,
    private readonly password: string,
    /** Fixed only by tests (RFC 2831's example). */
    private readonly cnonce = randomBytes(18).toString('base64'),
    private readonly digestUri = DIGEST_URI,
  ) {}

  /** The digest-response to the server's digest-challenge; throws on a challenge it cannot answer. */
  respond(challenge: Buffer): Buffer {
    const directives = parseDirectives(challenge.toString('utf8'))
    const {nonce} = directives
    if (!nonce) throw new Error('the server sent no DIGEST-MD5 nonce')
    const qops = (directives.qop ?? 'auth').split(',').map((qop) => qop.trim())
    if (!qops.includes('auth'))
      throw new Error(`the server offers no DIGEST-MD5 qop this client speaks (${directives.qop})`)
    const realm = directives.realm ?? ''
    // eslint-disable-next-line unicorn/text-encoding-identifier-case -- RFC 2831's charset value, not a Node encoding name
    const utf8 = directives.charset?.toLowerCase() === 'utf-8'
    const {cnonce, digestUri} = this
    const secret = md5(
      Buffer.from(
        `${this.user}:${realm}:${this.password}`,
        utf8 && !isLatin1(`${this.user}${realm}${this.password}`) ? 'utf8' : 'latin1',
      ),
    )
    const ha1 = md5hex(Buffer.concat([secret, Buffer.from(`:${nonce}:${cnonce}`)]))
    const digest = (a2: string) =>
      md5hex(Buffer.from(`${ha1}:${nonce}:${NONCE_COUNT}:${cnonce}:auth:${md5hex(Buffer.from(a2))}`))
    this.expectedRspauth = digest(`:${digestUri}`)
    const fields = [
      ...(utf8 ? ['charset=utf-8'] : []),
      `username=${quoted(this.user)}`,
      ...(directives.realm === undefined ? [] : [`realm=${quoted(realm)}`]),
      `nonce=${quoted(nonce)}`,
      `nc=${NONCE_COUNT}`,
      `cnonce=${quoted(cnonce)}`,
      `digest-uri=${quoted(digestUri)}`,
      'maxbuf=65536',
      `response=${digest(`AUTHENTICATE:${digestUri}`)}`,
      'qop=auth',
    ]
    return Buffer.from(fields.join(','), utf8 ? 'utf8' : 'latin1')
  }

  /** Whether the server's final token proves it knows the password too. */
  verify(token: Buffer): boolean {
    return (
      this.expectedRspauth !== undefined && parseDirectives(token.toString('utf8')).rspauth === this.expectedRspauth
    )
  }
}

/** name=value and name="quoted value" pairs, comma-separated (RFC 2831 §7.1); the first of a repeated name wins. */
export function parseDirectives(text: string): Record<string, string> {
  const directives: Record<string, string> = {}
  const pattern = /\s*([A-Za-z0-9-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*))\s*(?:,|$)/gy
  for (let match = pattern.exec(text); match && match[0] !== ''; match = pattern.exec(text)) {
    const name = match[1].toLowerCase()
    directives[name] ??= match[2] === undefined ? match[3].trim() : match[2].replaceAll(/\\(.)/g, '$1')
  }

  return directives
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest()
const md5hex = (data: Buffer) => createHash('md5').update(data).digest('hex')
const quoted = (value: string) => `"${value.replaceAll(/(["\\])/g, String.raw`\$1`)}"`

const isLatin1 = (text: string) => /^[\u0000-\u00FF]*$/.test(text)
