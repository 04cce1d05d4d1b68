"""Where artifact bytes live: a content-addressed store over pluggable storage backends."""

from .serializers import Serializer, register_serializer, unregister_serializer
from .store import ArtifactRef, BlobError, ContentStore, open_store

__all__ = ["ArtifactRef", "BlobError", "ContentStore", "Serializer", "open_store", "register_serializer", "unregister_serializer"]
