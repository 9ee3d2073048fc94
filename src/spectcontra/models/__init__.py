"""Neural modules: spectral encoder, cross-view attention, heads, contrastive losses, the spoof
detector and its checkpoints. May import: core modules; never training, inference or above.
"""
