"""Evaluation on score tables: metrics (official EER, DCF, Cllr, ECE...), bootstrap CIs, dev-only
calibration, the score-file schema, curve tables and their figures. NumPy/pandas/sklearn only.
May import: the core modules (config, conventions, io_utils); never torch, models or training.
"""
