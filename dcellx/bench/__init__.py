"""``dcellx bench``: engine throughput (``run``) and the per-step profile (``profile``)."""

from dcellx.bench.run import dense_matmul_gflops, peak_rss_mb, run_bench

__all__ = ["dense_matmul_gflops", "peak_rss_mb", "run_bench"]
