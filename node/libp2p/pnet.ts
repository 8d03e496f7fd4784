/**
 * A private mesh (docs/ARCHITECTURE.md §4, "Transport"): libp2p's pre-shared-key
 * connection protector, wire-compatible with `@libp2p/pnet` (the same nonce
 * exchange and XSalsa20 stream), over a correct cipher.
 *
 * Why not `@libp2p/pnet` itself: its cipher, xsalsa20@1.2.0, keeps every
 * instance's view of one shared WebAssembly memory. One update over ~640 KiB
 * grows that memory, every other connection's view detaches (length 0), each
 * of their next updates grows it again, and at 64 MB the growth throws inside
 * a socket listener, where nothing catches it: a burst of large, valid calls
 * for bids took daemons down. Here the stream is `@noble/ciphers`' Salsa20
 * (audited, pure JavaScript, no shared state; about 550 MB/s on this 2-core
 * machine in 64 KiB updates, against 370 MB/s for the WebAssembly one), and
 * any error inside the protector aborts its own connection, never the process.
 */
import type { AbortOptions, MessageStream, MultiaddrConnection, ConnectionProtector } from '@libp2p/interface'
import { AbstractMultiaddrConnection, byteStream } from '@libp2p/utils'
import type { AbstractMultiaddrConnectionInit, SendResult } from '@libp2p/utils'
import { xsalsa20 } from '@noble/ciphers/salsa.js'

export const NONCE_BYTES = 24
export const KEY_BYTES = 32
/** Salsa20's block counter here is 32 bits: a connection carries at most 2^32 blocks (256 GiB) each way, then reconnects. */
const MAX_BLOCKS = 2 ** 32

/**
 * Read a v1 swarm key file: `/key/swarm/psk/1.0.0/`, `/base16/`, then 64 hex
 * digits (the format `mesh swarm-key` and `@libp2p/pnet` write). Throws one
 * sentence on anything else.
 */
export function decodeSwarmKey (file: Uint8Array): Uint8Array {
  const lines = Buffer.from(file).toString('utf8').split(/\r\n|\r|\n/)
  const [tag, codec, hex] = lines
  if (tag !== '/key/swarm/psk/1.0.0/' || codec !== '/base16/' || hex === undefined || !/^[0-9a-fA-F]{64}$/.test(hex.trim())) {
    throw new Error('Your private shared key is invalid: expected "/key/swarm/psk/1.0.0/", "/base16/" and 64 hex digits (make one with `mesh swarm-key`)')
  }
  return Uint8Array.from(Buffer.from(hex.trim(), 'hex'))
}

/**
 * XSalsa20 as a byte stream: each `update` continues the keystream where the
 * last one ended, whatever the lengths (`@noble/ciphers` starts each call at a
 * block counter, so a call that starts mid-block runs that block from its start).
 */
export class XSalsa20Stream {
  readonly #key: Uint8Array
  readonly #nonce: Uint8Array
  /** Bytes of keystream used so far. */
  #position = 0

  constructor (key: Uint8Array, nonce: Uint8Array) {
    if (key.byteLength !== KEY_BYTES) throw new Error(`key must be ${KEY_BYTES} bytes`)
    if (nonce.byteLength !== NONCE_BYTES) throw new Error(`nonce must be ${NONCE_BYTES} bytes`)
    this.#key = Uint8Array.from(key)
    this.#nonce = Uint8Array.from(nonce)
  }

  /** XOR `data` with the next `data.byteLength` bytes of keystream, into a new array. */
  update (data: Uint8Array): Uint8Array {
    const offset = this.#position % 64
    const block = (this.#position - offset) / 64
    if (block + Math.ceil((offset + data.byteLength) / 64) > MAX_BLOCKS) throw new Error('pnet: this connection has carried 256 GiB one way; it must reconnect')
    this.#position += data.byteLength
    if (offset === 0) return xsalsa20(this.#key, this.#nonce, data, new Uint8Array(data.byteLength), block)
    const buf = new Uint8Array(offset + data.byteLength)
    buf.set(data, offset)
    return xsalsa20(this.#key, this.#nonce, buf, buf, block).subarray(offset)
  }
}

export interface PreSharedKeyInit {
  /** The swarm key file's contents. */
  psk: Uint8Array
  /** How long the nonce exchange may take (ms). */
  timeout?: number
}

class PreSharedKeyProtector implements ConnectionProtector {
  readonly #psk: Uint8Array
  readonly #timeout: number

  constructor (init: PreSharedKeyInit) {
    this.#psk = decodeSwarmKey(init.psk)
    this.#timeout = init.timeout ?? 1000
  }

  readonly [Symbol.toStringTag] = '@meshwork/pnet'

  async protect (connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
    const localNonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
    const signal = options?.signal ?? AbortSignal.timeout(this.#timeout)
    const bytes = byteStream(connection)
    const [remote] = await Promise.all([bytes.read({ bytes: NONCE_BYTES, signal }), bytes.write(localNonce, { signal })])
    const maConn = bytes.unwrap() as MultiaddrConnection
    return new PrivateConnection({
      inbound: new XSalsa20Stream(this.#psk, remote.subarray()),
      outbound: new XSalsa20Stream(this.#psk, localNonce),
      maConn,
      remoteAddr: maConn.remoteAddr,
      direction: maConn.direction,
      log: maConn.log.newScope('pnet')
    })
  }
}

interface PrivateConnectionInit extends AbstractMultiaddrConnectionInit {
  inbound: XSalsa20Stream
  outbound: XSalsa20Stream
  maConn: MultiaddrConnection
}

/** The connection as its upper layers see it: plaintext in and out, XSalsa20 on the wire. */
class PrivateConnection extends AbstractMultiaddrConnection {
  readonly #maConn: MultiaddrConnection
  readonly #outbound: XSalsa20Stream

  constructor (init: PrivateConnectionInit) {
    super(init)
    this.#maConn = init.maConn
    this.#outbound = init.outbound
    const inbound = init.inbound
    this.#maConn.addEventListener('message', evt => {
      // Anything thrown here would surface as an uncaught exception: it ends this connection instead.
      try {
        const data = evt.data
        if (data instanceof Uint8Array) this.onData(inbound.update(data))
        else for (const buf of data) this.onData(inbound.update(buf))
      } catch (err) {
        this.#fail(err)
      }
    })
    this.#maConn.addEventListener('drain', () => { this.onMuxerDrain() })
    this.#maConn.addEventListener('close', evt => {
      if (evt.error == null) this.onTransportClosed()
      else if (evt.local === true) this.abort(evt.error)
      else this.onRemoteReset()
    })
  }

  #fail (err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.log.error('pnet stream failed, closing the connection: %e', error)
    // Either may already be closed; that is what we want anyway.
    try { this.#maConn.abort(error) } catch { /* already closed */ }
    try { this.abort(error) } catch { /* already closed */ }
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    await this.#maConn.close(options)
  }

  sendData (data: Parameters<AbstractMultiaddrConnection['sendData']>[0]): SendResult {
    try {
      return { sentBytes: data.byteLength, canSendMore: this.#maConn.send(this.#outbound.update(data.subarray())) }
    } catch (err) {
      this.#fail(err)
      return { sentBytes: data.byteLength, canSendMore: false }
    }
  }

  sendReset (err: Error): void { this.#maConn.abort(err) }
  sendPause (): void { this.#maConn.pause() }
  sendResume (): void { this.#maConn.resume() }
}

/** libp2p's `connectionProtector` for a private mesh keyed by `psk` (a swarm key file's contents). */
export function preSharedKey (init: PreSharedKeyInit): () => ConnectionProtector {
  // Decode now, so a bad key fails at start with its sentence, not on the first connection.
  decodeSwarmKey(init.psk)
  return () => new PreSharedKeyProtector(init)
}

/** A new swarm key file's contents (the format `@libp2p/pnet`'s `generateKey` writes). */
export function newSwarmKey (): string {
  return `/key/swarm/psk/1.0.0/\n/base16/\n${Buffer.from(crypto.getRandomValues(new Uint8Array(KEY_BYTES))).toString('hex')}`
}
