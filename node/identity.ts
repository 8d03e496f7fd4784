/**
 * The peer's persistent identity: an Ed25519 key in `<dataDir>/peer.key`,
 * created on first start with owner-only permissions, so a restarted peer keeps
 * its peer id (and the mesh recognises it as the same peer, back).
 */
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { MeshError } from '../src/errors.ts'

export const KEY_FILE = 'peer.key'

export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  const file = join(dataDir, KEY_FILE)
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    // 'wx': never overwrite a key another process created meanwhile.
    await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
    return key
  }
  try {
    const key = privateKeyFromProtobuf(bytes)
    await chmod(file, 0o600)
    return key
  } catch (err) {
    throw new MeshError('MESH_ERR_STATE', `${file} is not a valid peer key (${(err as Error).message}); move it away to create a new identity`, { cause: err })
  }
}
