"""Studies over many training runs: the ablation (variants x seeds) and its report table and
figure. May import: every layer below it (training, evaluation...).
"""
