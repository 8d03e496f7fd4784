/**
 * Reading a file the user named (a job file, its input files, a config)
 * without trusting its size: a 10 GB file, or a device such as /dev/zero that
 * reports no size at all, must be refused, not read into memory. The size is
 * checked before the first byte is read, and the read stops one byte past the
 * cap in case the file grows or is not a regular file.
 */
import { open } from 'node:fs/promises'
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

/** The file is larger than the cap: `size` is what stat said, or at least what was read. */
export class FileTooLarge extends Error {
  readonly size: number
  constructor (size: number, max: number) {
    super(`${size} bytes > ${max}`)
    this.name = 'FileTooLarge'
    this.size = size
  }
}

const CHUNK = 1024 * 1024

/** Chunks read so far: the next buffer to read into, and FileTooLarge past `max`. */
class Collected {
  readonly #chunks: Buffer[] = []
  readonly #max: number
  #total = 0
  constructor (max: number) { this.#max = max }

  /** A buffer for the next read: never more than one byte past the cap. */
  next (): Buffer { return Buffer.allocUnsafe(Math.min(CHUNK, this.#max + 1 - this.#total)) }

  /** Keeps what a read put in `buf`; false at the end of the file. */
  add (buf: Buffer, bytesRead: number): boolean {
    if (bytesRead === 0) return false
    this.#chunks.push(buf.subarray(0, bytesRead))
    this.#total += bytesRead
    if (this.#total > this.#max) throw new FileTooLarge(this.#total, this.#max)
    return true
  }

  bytes (): Buffer { return Buffer.concat(this.#chunks, this.#total) }
}

/** The file's bytes, or FileTooLarge when it holds more than `max`. */
export async function readFileAtMost (file: string, max: number): Promise<Buffer> {
  const fh = await open(file, 'r')
  try {
    const { size } = await fh.stat()
    if (size > max) throw new FileTooLarge(size, max)
    const got = new Collected(max)
    for (let buf = got.next(); got.add(buf, (await fh.read(buf, 0, buf.length, null)).bytesRead); buf = got.next());
    return got.bytes()
  } finally {
    await fh.close()
  }
}

/** `readFileAtMost`, synchronously (config files are read before anything async runs). */
export function readFileAtMostSync (file: string, max: number): Buffer {
  const fd = openSync(file, 'r')
  try {
    const { size } = fstatSync(fd)
    if (size > max) throw new FileTooLarge(size, max)
    const got = new Collected(max)
    for (let buf = got.next(); got.add(buf, readSync(fd, buf, 0, buf.length, null)); buf = got.next());
    return got.bytes()
  } finally {
    closeSync(fd)
  }
}
