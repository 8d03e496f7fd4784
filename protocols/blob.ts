/**
 * `/meshwork/blob/1.0.0`: fetch a content-addressed blob (large inputs, large
 * results and output files, checkpoints). One request per stream; the holder
 * answers with a header, then the blob in chunks of at most 1 MiB, each carrying
 * its own sha-256 so corruption is caught chunk by chunk; the receiver also
 * checks the whole blob's sha-256 before using it.
 *
 * Within v1 only optional fields may be added; anything else is `/2`.
 */
import { z } from 'zod'
import { decodeMessage, encodeMessage, type Decoded } from './codec.ts'

export const BLOB_PROTOCOL = '/meshwork/blob/1.0.0'
export const BLOB_VERSION = 1 as const
export const CHUNK_BYTES = 1024 * 1024
/** A blob larger than this is refused (inputs and outputs this big belong on shared storage). */
export const MAX_BLOB_BYTES = 4 * 1024 * 1024 * 1024

const sha = z.string().regex(/^[0-9a-f]{64}$/)

export const blobRequestSchema = z.object({ v: z.literal(BLOB_VERSION), sha256: sha })
export const blobHeaderSchema = z.object({ v: z.literal(BLOB_VERSION), ok: z.boolean(), size: z.number().int().min(0).max(MAX_BLOB_BYTES), error: z.string().max(256).optional() })
export const blobChunkSchema = z.object({ v: z.literal(BLOB_VERSION), sha256: sha, data: z.custom<Uint8Array>(v => v instanceof Uint8Array, 'must be bytes') })

export type BlobRequest = z.infer<typeof blobRequestSchema>
export type BlobHeader = z.infer<typeof blobHeaderSchema>
export type BlobChunk = z.infer<typeof blobChunkSchema>

export const encodeBlobMessage = (m: BlobRequest | BlobHeader | BlobChunk): Uint8Array => encodeMessage(m)
export const decodeBlobRequest = (b: Uint8Array): Decoded<BlobRequest> => decodeMessage(blobRequestSchema, b, 256, BLOB_VERSION)
export const decodeBlobHeader = (b: Uint8Array): Decoded<BlobHeader> => decodeMessage(blobHeaderSchema, b, 512, BLOB_VERSION)
export const decodeBlobChunk = (b: Uint8Array): Decoded<BlobChunk> => decodeMessage(blobChunkSchema, b, CHUNK_BYTES + 256, BLOB_VERSION)
