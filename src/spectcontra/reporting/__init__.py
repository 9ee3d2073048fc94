"""Render README blocks and MODEL_CARD.md from the files the pipeline wrote (metrics/).
May import: the core modules and experiments.ablation_report (reads JSON, never trains).
"""
