"""The train layer (5): configs, controls, run directories, the loop, sweeps and predictions.

``run(cfg)`` trains one model into a fresh run directory; ``resume(run_dir)`` continues one;
``compare``/``collect`` run and summarise sweeps; ``predict`` applies a finished run to new data.
"""

from dcellx.train.config import RunConfig, make_run_config
from dcellx.train.loop import RunInterrupted, RunResult, resume, run

__all__ = ["RunConfig", "RunInterrupted", "RunResult", "make_run_config", "resume", "run"]
