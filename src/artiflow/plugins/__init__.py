"""Names that Metaflow flows import from `metaflow.plugins.*` (timeouts, catch, test helpers)."""
