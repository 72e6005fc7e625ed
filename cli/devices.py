"""Where a model runs, and how: the ``--device`` of every command that runs a model, and the
CUDA options of the run commands, each declared once here.

The run commands (``overfit``, ``train``, ``compare``, ``config show``, ``slurm``) take
``--device``, ``--cuda-graph``, ``--tf32``, ``--precision`` and ``--deterministic`` among their run
options (``dcellx_cli.run_options``): they default to ``None`` (the config's default, so that
``--resume`` can tell a given flag from a default) and are recorded in ``config.json``. The
commands that run a finished run's model (``predict``, ``diagnose --run``, ``rlipp``, ``report``)
take ``ModelDeviceOpt``; each checks it with ``dcellx.train.context.check_device``.
"""

from __future__ import annotations

from typing import Annotated

from dcellx.train.config import RunConfig
from dcellx_cli.common import cli_flag, default, described

# --- run options ---------------------------------------------------------------------------------
DeviceOpt = Annotated[
    str | None, cli_flag("device", f"torch device (default: {default(RunConfig, 'device')}).")
]
CudaGraphOpt = Annotated[
    bool | None,
    cli_flag(
        "cuda-graph",
        "--device cuda: capture forward, loss, backward and optimiser step as one CUDA graph per "
        "batch shape, then replay it.",
    ),
]
Tf32Opt = Annotated[bool | None, cli_flag("tf32", "Allow TF32 matmuls on CUDA (not on CPU).")]
PrecisionOpt = Annotated[
    str | None,
    cli_flag(
        "precision",
        described(
            RunConfig,
            "precision",
            {
                "float32": "",
                "bf16": "matmuls autocast to bfloat16; BatchNorm statistics and optimiser "
                "state stay float32",
            },
        )
        + f" (default: {default(RunConfig, 'precision')}).",
    ),
]
DeterministicOpt = Annotated[
    bool | None,
    cli_flag(
        "deterministic",
        "Deterministic kernels and a fixed cuBLAS workspace: two GPU runs of one seed are "
        "bitwise equal.",
    ),
]

# --- the device of a finished run's model (predict, diagnose --run, rlipp, report) ---------------
ModelDeviceOpt = Annotated[
    str, cli_flag("device", "torch device the model runs on: cpu, cuda, cuda:N or mps.")
]
