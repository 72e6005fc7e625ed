"""``dcellx bench``: engine throughput, FLOP efficiency and memory (see dcellx.bench)."""

from __future__ import annotations

import json
from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.table import Table

from dcellx.bench import run_bench
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.errors import ConfigError
from dcellx.nn.buckets import PLANS
from dcellx.nn.config import make_config
from dcellx.nn.engines import ENGINES
from dcellx.train.config import DEFAULT_GO, DEFAULT_PRESET, RunConfig
from dcellx.train.context import check_device
from dcellx_cli.common import GoOpt

console = Console()
PRECISIONS = get_args(RunConfig.model_fields["precision"].annotation)


def bench(
    go: GoOpt = DEFAULT_GO,
    preset: Annotated[
        str, typer.Option(help="paper, lua, torchcell or dcell-new.")
    ] = DEFAULT_PRESET,
    variant: Annotated[str, typer.Option(help="binary or an embedding variant.")] = "binary",
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 256,
    threads: Annotated[int, typer.Option(help="torch threads (recorded).")] = 2,
    steps: Annotated[int, typer.Option(help="timed engine steps after warm-up.")] = 5,
    reference_steps: Annotated[int, typer.Option("--reference-steps")] = 2,
    no_reference: Annotated[bool, typer.Option("--no-reference")] = False,
    engine: Annotated[
        str, typer.Option(help="fused (default) or autograd: the fast engine's two forms.")
    ] = "fused",
    buckets: Annotated[
        str | None,
        typer.Option(
            help="cost-v1 (the cost model's plan, fitted on CPU), gpu-v0 (its GPU prior) or "
            "ratio-1.3 (the former cells); default: the device's (gpu-v0 on cuda, else cost-v1)."
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="torch device: cpu, cuda, cuda:N (timed by CUDA events there).")
    ] = "cpu",
    tf32: Annotated[
        bool, typer.Option("--tf32", help="CUDA: float32 matmuls (step and roof) may use TF32.")
    ] = False,
    precision: Annotated[
        str,
        typer.Option(
            help=f"{' or '.join(PRECISIONS)}: bf16 autocasts the engine's forward (on autograd) "
            "and the roof."
        ),
    ] = "float32",
    cuda_graph: Annotated[
        bool,
        typer.Option("--cuda-graph", help="CUDA: replay each step from a captured CUDA graph."),
    ] = False,
    profile: Annotated[
        bool, typer.Option("--profile", help="Also print where a step's time goes, by part.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Training samples/s of the fast engine vs the reference loop, GFLOP/s, peak memory; on a
    GPU also the forecast of one 7 M-genotype epoch (use --go 2017 for the full GO)."""
    if engine not in ENGINES:
        raise typer.BadParameter(
            f"{engine!r}: choose {' or '.join(ENGINES)}", param_hint="--engine"
        )
    if buckets is not None and buckets not in PLANS:
        raise typer.BadParameter(
            f"{buckets!r}: choose {' or '.join(PLANS)}", param_hint="--buckets"
        )
    try:
        dev = check_device(device)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--device") from None
    if precision not in PRECISIONS:
        raise typer.BadParameter(
            f"{precision!r}: choose {' or '.join(PRECISIONS)}", param_hint="--precision"
        )
    if cuda_graph and dev.type != "cuda":
        raise typer.BadParameter(
            f"needs --device cuda (got {device!r}): a CUDA graph is captured and replayed on a "
            "CUDA device",
            param_hint="--cuda-graph",
        )
    cfg = make_config(preset, variant=variant)
    out = run_bench(
        load_ontology_with_datasets(go),
        cfg,
        batch_size=batch_size,
        threads=threads,
        steps=steps,
        reference_steps=reference_steps,
        with_reference=not no_reference,
        profile=profile,
        engine=engine,
        buckets=buckets,
        device=device,
        tf32=tf32,
        precision=precision,
        cuda_graph=cuda_graph,
    )
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table(title=f"dcellx bench --go {go} --preset {preset} --variant {variant}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    prof = out.pop("profile", None)
    for k, v in out.items():
        table.add_row(k, f"{v:,}" if isinstance(v, int) else str(v))
    console.print(table)
    if prof is not None:
        _print_profile(prof, f"{preset}, batch {batch_size}")


def _print_profile(prof: dict, title: str) -> None:
    """The part table (forward, backward, share of the profiled step) and the kernel lines."""
    total = prof["profiled_step_ms"]
    table = Table(title=f"where a step goes ({title}): profiled {total:.1f} ms")
    for col in ("part", "forward ms", "backward ms", "total ms", "share"):
        table.add_column(col, justify="left" if col == "part" else "right")
    for r in prof["parts"]:
        t = r["forward_ms"] + r["backward_ms"]
        row = (f"{r['forward_ms']:.1f}", f"{r['backward_ms']:.1f}", f"{t:.1f}", f"{t / total:.1%}")
        table.add_row(r["part"], *row)
    console.print(table)
    kern = Table(title="kernels (self time, all phases)")
    kern.add_column("family")
    kern.add_column("ms", justify="right")
    kern.add_column("share", justify="right")
    for k, v in prof["kernels_ms"].items():
        kern.add_row(k, f"{v:.1f}", f"{v / total:.1%}")
    console.print(kern)
    console.print(
        f"bmm: {prof['bmm_calls_per_step']:.0f} calls, {prof['bmm_gflop_per_step']} GFLOP a step "
        f"({prof['bmm_padding_share']:.1%} of it on padding), {prof['bmm_gflops']} GFLOP/s; "
        f"unprofiled step {prof['step_ms']:.1f} ms, "
        f"{prof['minor_page_faults_per_step']:,} minor page faults a step"
    )
