"""Data sources and corpus checks: each source writes audio under data/raw and one protocol
table (data.protocol); data.shortcuts audits a corpus for trivial cues.
May import: the core modules (config, conventions, audio, io_utils, seeding) and evaluation.metrics.
"""
