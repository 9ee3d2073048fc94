"""Features from audio: the spectral views, the on-disk feature store and the preprocess step
that fills it. May import: core modules, augment.
"""
