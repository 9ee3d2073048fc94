"""Data sources: each writes audio under data/raw and one protocol table (spectcontra.protocol)."""
