"""``mechanic bench``: explanation quality on features whose answer is known, built on
the pipeline's public phases. :mod:`.items` builds a suite's features, :mod:`.runner`
explains, scores and judges them, :mod:`.report` summarises, compares and plots runs.

(The repository's top-level ``bench/`` folder is something else: scripts that measure
mechanic's own performance.)"""

from .items import REFERENCES, BenchItem, build_items
from .report import (
    COST_COLUMNS,
    SCORE_COLUMNS,
    TRUTH_COLUMNS,
    bench_summary,
    compare_runs,
    format_bench,
    format_compare,
    write_plots,
)
from .runner import JUDGES, SUITES, BenchConfig, BenchRun, run_bench

__all__ = [
    "COST_COLUMNS", "JUDGES", "REFERENCES", "SCORE_COLUMNS", "SUITES", "TRUTH_COLUMNS", "BenchConfig", "BenchItem",
    "BenchRun", "bench_summary", "build_items", "compare_runs", "format_bench", "format_compare", "run_bench",
    "write_plots",
]
