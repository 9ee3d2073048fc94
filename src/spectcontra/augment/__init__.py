"""Training-time augmentations: seeded spectrogram masks/gain/noise and RawBoost-style signal
effects. May import: core modules only.
"""
