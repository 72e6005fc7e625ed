"""``dcellx bench``: engine throughput (``run``) and the per-step profile (``profile``)."""

from dcellx.bench.run import run_bench

__all__ = ["run_bench"]
