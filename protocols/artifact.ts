/**
 * `/meshwork/artifact/1.0.0`: fetch a piece of a cached artifact (a model, a
 * dataset: large, immutable, named by the sha-256 of its bytes) from any peer
 * that holds it. docs/ARCHITECTURE.md §4 and §8.
 *
 * A stream carries requests and answers in turn, so a fetcher keeps one
 * stream per holder and asks for chunk after chunk on it:
 *  - `manifest`: the artifact's size and the sha-256 of each of its chunks
 *    (`ARTIFACT_CHUNK_BYTES` each, the last one shorter). The fetcher checks
 *    every chunk against it, and the whole artifact against its name at the
 *    end, so a holder that lies about the manifest is caught too.
 *  - `chunk`: the bytes of chunk `index`.
 *
 * Within v1 only optional fields may be added; anything else is `/2`.
 */
import { z } from 'zod'
import { decodeMessage, encodeMessage, type Decoded } from './codec.ts'

export const ARTIFACT_PROTOCOL = '/meshwork/artifact/1.0.0'
export const ARTIFACT_VERSION = 1 as const
export const ARTIFACT_CHUNK_BYTES = 1024 * 1024
/** The largest artifact: 64 GiB, a large model's weights; its manifest is then 2 MiB. */
export const MAX_ARTIFACT_BYTES = 64 * 1024 ** 3
export const MAX_CHUNKS = MAX_ARTIFACT_BYTES / ARTIFACT_CHUNK_BYTES
/** A length-prefixed frame on this protocol: a chunk or a manifest, plus the envelope. */
export const MAX_ARTIFACT_FRAME = Math.max(ARTIFACT_CHUNK_BYTES, MAX_CHUNKS * 32) + 1024

const sha = z.string().regex(/^[0-9a-f]{64}$/)
const bytes = z.custom<Uint8Array>(v => v instanceof Uint8Array, 'must be bytes')

export const artifactRequestSchema = z.discriminatedUnion('op', [
  z.object({ v: z.literal(ARTIFACT_VERSION), op: z.literal('manifest'), sha256: sha }),
  z.object({ v: z.literal(ARTIFACT_VERSION), op: z.literal('chunk'), sha256: sha, index: z.number().int().min(0).max(MAX_CHUNKS) })
])
export type ArtifactRequest = z.infer<typeof artifactRequestSchema>

export const artifactReplySchema = z.object({
  v: z.literal(ARTIFACT_VERSION),
  ok: z.boolean(),
  /** Why not (`ok: false`): the holder no longer has it, or is too busy. */
  error: z.string().max(256).optional(),
  /** manifest: the artifact's size in bytes. */
  size: z.number().int().min(0).max(MAX_ARTIFACT_BYTES).optional(),
  /** manifest: the sha-256 digests of the chunks, 32 bytes each, in order. */
  chunks: bytes.optional(),
  /** chunk: its bytes. */
  data: bytes.optional()
})
export type ArtifactReply = z.infer<typeof artifactReplySchema>

export const encodeArtifactMessage = (m: ArtifactRequest | ArtifactReply): Uint8Array => encodeMessage(m)
export const decodeArtifactRequest = (b: Uint8Array): Decoded<ArtifactRequest> => decodeMessage(artifactRequestSchema, b, 256, ARTIFACT_VERSION)
export const decodeArtifactReply = (b: Uint8Array): Decoded<ArtifactReply> => decodeMessage(artifactReplySchema, b, MAX_ARTIFACT_FRAME, ARTIFACT_VERSION)

/** How many chunks an artifact of `size` bytes has (an empty one has none). */
export function chunkCount (size: number): number {
  return Math.ceil(size / ARTIFACT_CHUNK_BYTES)
}

/**
 * How peers name an artifact in their ads: the first 16 hex digits of its
 * sha-256 (64 bits: collisions among the few hundred artifacts of a mesh are
 * out of reach, and a false match only costs a fetch that asks elsewhere).
 */
export const AD_ARTIFACT_ID_LENGTH = 16

export function adArtifactId (sha256: string): string {
  return sha256.slice(0, AD_ARTIFACT_ID_LENGTH)
}
