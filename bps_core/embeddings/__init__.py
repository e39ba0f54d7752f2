"""Embeddings: self-supervised (lightly SimCLR), a pixel baseline, or a Lightly CSV.

Entry point: ``compute_embeddings(project, EmbedConfig(method="simclr"))``.
"""

from bps_core.embeddings.compute import METHODS, EmbedConfig, compute_embeddings
from bps_core.embeddings.store import EmbeddingSet, list_embedding_sets, load_embedding_set

__all__ = [
    "METHODS",
    "EmbedConfig",
    "EmbeddingSet",
    "compute_embeddings",
    "list_embedding_sets",
    "load_embedding_set",
]
