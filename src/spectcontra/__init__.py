"""spect-contra: a lightweight, CPU-only spectral-contrastive audio deepfake detector."""

__version__ = "0.1.0"
