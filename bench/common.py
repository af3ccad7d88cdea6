"""Helpers for benchmarks: machine description and writing a section of BENCHMARKS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import resource
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section between this benchmark's markers in BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    block = f"{start}\n{body.rstrip()}\n\n_Measured {stamp} on {machine()}._\n{end}"
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else (
        "# Benchmarks\n\nWritten by the scripts in `bench/` (`make bench`). Medians; absolute times vary with "
        "the machine and its load, ratios less so.\n"
    )
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.write_text(text)
