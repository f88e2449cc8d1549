"""Point-in-time call features: row-local fields, premise/area history, registry, store."""
