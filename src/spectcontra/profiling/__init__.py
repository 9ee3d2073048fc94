"""CPU cost measurement: latency, MACs, peak RSS (memory, fresh-process probe), energy
(CodeCarbon) and the side-by-side benchmark. No torch import at package level.
May import: every layer below it (inference, baselines...).
"""
