/** Meshwork's public API for embedding a peer in an app (DESIGN.md §11). */
export { createPeer, Peer, type CreatePeerOptions } from './peer.ts'
export { loadConfigFile } from './config-file.ts'
export { parseConfig, defaultConfig, type MeshConfig, type MeshConfigInput } from '../src/config.ts'
export { MeshError, ConfigError, ERROR_CODES, type ErrorCode } from '../src/errors.ts'
export type { PeerView, PeerStats } from '../src/peer.ts'
export type { ResourceAd, Resources } from '../protocols/resources.ts'
