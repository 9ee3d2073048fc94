"""Scoring audio with a trained detector: the clip/window policy, the torch and the torch-free ONNX
detectors, and ONNX export. This __init__ imports nothing, so the ONNX route stays torch-free.
May import: core, evaluation, features, models.
"""
