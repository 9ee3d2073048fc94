"""This process's peak resident memory, read without importing torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def own_peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    Read from VmHWM in /proc/self/status, which belongs to the current process image.
    ``getrusage().ru_maxrss`` is the fallback only: Linux carries the parent's peak across
    fork and exec, so a fresh child would report its launcher's footprint.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB -> MB
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report_own_peak_rss() -> None:
    """Print this process's peak RSS as one JSON line, as ``profiling.peak_rss_mb`` reads it."""
    print(json.dumps({"peak_rss_mb": own_peak_rss_mb()}))
    sys.stdout.flush()
