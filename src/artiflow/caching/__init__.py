"""Step caching: code fingerprints, cache keys and lookups."""
