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

/** The file's bytes, or FileTooLarge when it holds more than `max`. */
export async function readFileAtMost (file: string, max: number): Promise<Buffer> {
  const fh = await open(file, 'r')
  try {
    const { size } = await fh.stat()
    if (size > max) throw new FileTooLarge(size, max)
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, max + 1 - total))
      const { bytesRead } = await fh.read(buf, 0, buf.length, null)
      if (bytesRead === 0) break
      chunks.push(buf.subarray(0, bytesRead))
      total += bytesRead
      if (total > max) throw new FileTooLarge(total, max)
    }
    return Buffer.concat(chunks, total)
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
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, max + 1 - total))
      const bytesRead = readSync(fd, buf, 0, buf.length, null)
      if (bytesRead === 0) break
      chunks.push(buf.subarray(0, bytesRead))
      total += bytesRead
      if (total > max) throw new FileTooLarge(total, max)
    }
    return Buffer.concat(chunks, total)
  } finally {
    closeSync(fd)
  }
}
