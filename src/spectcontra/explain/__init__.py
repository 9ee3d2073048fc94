"""What drives a score: saliency, per-band occlusion and the detection overlay figure.
May import: core, evaluation, features, models, inference.
"""
