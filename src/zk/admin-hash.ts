/**
 * The AdminServer's hash command (3.6+): GET <admin>/commands/hash answers the tree digests the
 * server kept as it applied transactions, one every 128 zxids, the last 1024 of them
 * (DataTree.digestLog), as {"digests": [{"zxid": N, "digest": N, "digest_version": 2}, ...]}.
 */
import * as http from 'node:http'
import * as https from 'node:https'

import {errorMessage} from '../errors.js'
import {DIGEST_VERSION} from '../zkdisk/digest.js'
import {adminCommandUrl, AdminUnavailable, authorizationHeader} from './admin.js'

export interface AdminHashRequest {
  auth?: {password: string; user: string}
  /** How long the whole answer may take. */
  timeoutMs: number
  url: string
}

export interface AdminHashes {
  /** Tree digest after each zxid listed (digest version 2 only: others are not comparable). */
  digests: Map<bigint, bigint>
  /** Where they came from, without credentials. */
  source: string
}

/** 1024 entries of ~80 bytes each, pretty-printed: far below this. */
const MAX_ANSWER_BYTES = 1024 * 1024

/** Reads the hash list; AdminUnavailable says why none was had, in one line. */
export async function fetchAdminHashes(request: AdminHashRequest): Promise<AdminHashes> {
  const url = adminCommandUrl(request.url, 'hash')
  const source = `${url.protocol}//${url.host}`
  const text = await getText(url, request, source)
  return {digests: parseHashAnswer(text, source), source}
}

/**
 * Digests are Java longs, past 2^53 and negative too: JSON.parse would round them, so the numbers
 * of "zxid" and "digest" are quoted before parsing and read as bigints.
 */
export function parseHashAnswer(text: string, source: string): Map<bigint, bigint> {
  let answer: unknown
  try {
    answer = JSON.parse(text.replaceAll(/(?<!\\)"(zxid|digest)"\s*:\s*(-?\d+)/g, '"$1": "$2"'))
  } catch {
    throw new AdminUnavailable(`${source} answered the hash command with something other than JSON`)
  }

  const {digests, error} = (answer ?? {}) as {digests?: unknown; error?: unknown}
  if (!Array.isArray(digests)) {
    const said = typeof error === 'string' ? `: "${error.slice(0, 200)}"` : ''
    throw new AdminUnavailable(`${source} has no hash command (ZooKeeper before 3.6, or not serving)${said}`)
  }

  const found = new Map<bigint, bigint>()
  for (const entry of digests as Array<{digest?: unknown; digest_version?: unknown; zxid?: unknown}>) {
    const {digest, zxid} = entry ?? {}
    if (typeof zxid !== 'string' || typeof digest !== 'string')
      throw new AdminUnavailable(`${source} answered the hash command with an entry lacking zxid or digest`)
    if (entry.digest_version === DIGEST_VERSION) found.set(BigInt(zxid), BigInt.asUintN(64, BigInt(digest)))
  }

  return found
}

function getText(url: URL, request: AdminHashRequest, source: string): Promise<string> {
  const headers = request.auth ? {authorization: authorizationHeader(request.auth)} : {}
  return new Promise((resolve, reject) => {
    const fail = (error: unknown) =>
      reject(
        error instanceof AdminUnavailable
          ? error
          : new AdminUnavailable(`cannot read the hash command of ${source}: ${errorMessage(error)}`),
      )
    const call = (url.protocol === 'https:' ? https : http).get(url, {headers}, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        fail(new AdminUnavailable(`${source} refused the hash command (HTTP ${response.statusCode})`))
        return
      }

      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_ANSWER_BYTES)
          call.destroy(new AdminUnavailable(`${source}'s hash answer exceeds ${MAX_ANSWER_BYTES} bytes`))
        else chunks.push(chunk)
      })
      response.on('error', fail)
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    })
    const deadline = setTimeout(
      () =>
        call.destroy(new AdminUnavailable(`${source} did not answer the hash command within ${request.timeoutMs} ms`)),
      request.timeoutMs,
    )
    call.on('close', () => clearTimeout(deadline))
    call.on('error', fail)
  })
}
