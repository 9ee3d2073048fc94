"""Baselines scored by the same evaluation code as the main model (LFCC classic, Green AI).
May import: core, evaluation, features.
"""
