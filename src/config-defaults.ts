/**
 * Defaults that code outside the config schema needs too (the CLI finds its
 * daemon's dataDir without loading the schema).
 */
export const DEFAULT_DATA_DIR = '~/.meshwork'
