"""Baselines scored by the same evaluation code as the main model."""
