"""Neural modules: spectral encoder, cross-view attention, heads and the spoof detector."""

from spectcontra.models.cross_attention import CrossViewAttention
from spectcontra.models.detector import STRATEGIES, SpoofDetector, embeddings, score
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.models.heads import LinearHead, MLPHead, build_head
from spectcontra.models.pretrainer import ContrastivePretrainer
from spectcontra.models.projection import ProjectionHead

__all__ = [
    "STRATEGIES",
    "ContrastivePretrainer",
    "CrossViewAttention",
    "LinearHead",
    "MLPHead",
    "ProjectionHead",
    "SpectralEncoder",
    "SpoofDetector",
    "build_head",
    "embeddings",
    "score",
]
