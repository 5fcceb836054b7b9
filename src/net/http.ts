import * as http from 'node:http'
import * as https from 'node:https'

export interface HttpRequest {
  body?: Buffer
  /** PEM CA certificate(s) to trust for https (a private CA); the system CAs otherwise. */
  ca?: Buffer | string
  headers: http.OutgoingHttpHeaders
  maxBodyBytes: number
  method: string
  /** One deadline for the whole exchange: connection, headers and body. */
  timeoutMs: number
}

export interface HttpResponse {
  body: string
  location?: string
  status: number
  statusText?: string
}

/** The request got no complete answer within its deadline. */
export class HttpTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`)
  }
}

/** One HTTP(S) exchange through node:http (so nock can stand in for a peer in tests). */
export function sendRequest(url: URL, options: HttpRequest): Promise<HttpResponse> {
  const secure = url.protocol === 'https:'
  return new Promise((resolve, reject) => {
    const request = (secure ? https : http).request(url, {
      ...(secure && options.ca ? {ca: options.ca} : {}),
      headers: options.headers,
      method: options.method,
    })
    const timer = setTimeout(() => request.destroy(new HttpTimeoutError(options.timeoutMs)), options.timeoutMs)
    const fail = (error: Error) => {
      clearTimeout(timer)
      reject(error)
    }

    request.on('error', fail)
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > options.maxBodyBytes)
          request.destroy(new Error(`the answer is larger than ${options.maxBodyBytes} bytes`))
        else chunks.push(chunk)
      })
      response.on('error', fail)
      response.on('end', () => {
        clearTimeout(timer)
        resolve({
          body: Buffer.concat(chunks).toString('utf8'),
          location: response.headers.location,
          status: response.statusCode ?? 0,
          statusText: response.statusMessage,
        })
      })
    })
    request.end(options.body)
  })
}
