"""SLURM job arrays for sweeps: write the sbatch script, submit it, report the tasks' state.

One array task per planned point (variant x grid point x seed, ``SweepPlan.points()`` order); every
task runs the same command, ``dcellx sweep-run <sweep-dir> --point $SLURM_ARRAY_TASK_ID``, which
starts, resumes or skips its point (``dcellx.scale.task``), so a requeued task continues from its
checkpoint. The script is written next to ``sweep.json`` as ``slurm.sbatch`` and logs go to
``slurm-logs/<array job>_<task>.out`` (appended across requeues).

Signals and requeueing (what the generated script does, and why):

* ``#SBATCH --requeue`` lets SLURM requeue the task (preemption, ``scontrol requeue``, node
  failure).
* ``#SBATCH --signal=B:TERM@120`` (``--signal``) sends TERM to the *batch shell* 120 s before the
  time limit. Without ``B:`` SLURM signals job steps only, and dcellx runs in the batch step
  itself (no ``srun``) unless ``--ddp``, so it would never hear of the limit.
* bash runs a trap only between foreground commands, so dcellx runs in the background and the
  script ``wait``s: the trap then forwards TERM at once; dcellx finishes its step, checkpoints and
  exits 143.
* On 143 the script calls ``scontrol requeue $SLURM_JOB_ID`` (the task's own job id). After the
  time-limit warning nothing else would requeue the task; after preemption or a manual
  ``scontrol requeue`` SLURM has requeued it already and refuses the second request, harmlessly.
  Any other exit status is passed on (0: done; 1/2: the task failed and stays failed).
* Submitting the same script again is safe: finished points exit at once.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dcellx.errors import ConfigError
from dcellx.scale.task import load_plan, point_label, point_runs
from dcellx.train.compare import SweepPlan, prepare_sweep_dir
from dcellx.train.metrics import read_metrics
from dcellx.train.rundir import read_json, write_json

SCRIPT = "slurm.sbatch"
LOGS = "slurm-logs"
JOBS = "slurm-jobs.json"

_TIME = re.compile(r"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+(:\d{1,2}(:\d{1,2})?)?)$")
_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)
_SIGNAL = re.compile(r"^(?:(B|R|RB):)?([A-Z0-9]+)(?:@(\d+))?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_.,+-]+$")


def check_script_text(flag: str, value: str) -> None:
    """Refuse a control character (newline, carriage return, tab, escape, NUL, ...) or a Unicode
    line separator in a name that goes into the generated script: quoting does not protect a
    comment or an ``#SBATCH`` line from a newline, which would start a new command."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            raise ConfigError(
                f"{flag} {value!r}: control character {ch!r} (U+{ord(ch):04X}) in a name that "
                "goes into the SLURM script"
            )


@dataclass
class SlurmOptions:
    """What the ``#SBATCH`` lines request. ``gpus`` and ``mem`` are per node, ``cpus`` per task
    (a DDP rank); ``extra`` are further sbatch options, e.g. ``--account=lab``."""

    partition: str | None = None
    time: str | None = None
    gpus: int = 0
    cpus: int | None = None
    mem: str | None = None
    array_parallel: int | None = None
    signal: str = "B:TERM@120"
    nodes: int = 1
    ntasks_per_node: int | None = None  # DDP ranks per node (default: --gpus, else 1)
    job_name: str | None = None
    extra: list[str] = field(default_factory=list)

    def validate(self) -> None:
        named = [("--partition", self.partition), ("--time", self.time), ("--mem", self.mem)]
        named += [("--signal", self.signal), ("--job-name", self.job_name)]
        for flag, value in [*named, *(("--sbatch", item) for item in self.extra)]:
            if value is not None:
                check_script_text(flag, value)
        if self.time is not None and not _TIME.match(self.time):
            raise ConfigError(f"--time {self.time!r}: use minutes, HH:MM:SS or D-HH:MM:SS")
        if self.mem is not None and not _MEM.match(self.mem):
            raise ConfigError(f"--mem {self.mem!r}: a size such as 4000, 16G or 512M")
        if not _SIGNAL.match(self.signal):
            raise ConfigError(f"--signal {self.signal!r}: use [B:]SIGNAL@seconds, e.g. B:TERM@120")
        if self.partition is not None and not _NAME.match(self.partition):
            raise ConfigError(f"--partition {self.partition!r}: not a partition name")
        if self.job_name is not None and not _NAME.match(self.job_name):
            raise ConfigError(f"--job-name {self.job_name!r}: letters, digits and _.,+- only")
        for name, value in (("--gpus", self.gpus), ("--nodes", self.nodes)):
            if value < 0 or (name == "--nodes" and value < 1):
                raise ConfigError(f"{name} must be positive, not {value}")
        for name, value in (
            ("--cpus", self.cpus),
            ("--array-parallel", self.array_parallel),
            ("--ntasks-per-node", self.ntasks_per_node),
        ):
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, not {value}")
        for item in self.extra:
            if not item.startswith("-") or "\n" in item:
                raise ConfigError(f"--sbatch {item!r}: give an sbatch option, e.g. --account=lab")

    def signal_name(self) -> str:
        """The signal the batch shell traps (``TERM`` for ``B:TERM@120``)."""
        m = _SIGNAL.match(self.signal)
        assert m is not None
        name = m.group(2).upper()
        return name[3:] if name.startswith("SIG") else name

    def signals_batch_shell(self) -> bool:
        m = _SIGNAL.match(self.signal)
        return bool(m and m.group(1) and "B" in m.group(1).upper())

    def ranks_per_node(self) -> int:
        return self.ntasks_per_node or max(1, self.gpus)


def dcellx_command() -> list[str]:
    """How the batch script calls dcellx: the console script of this interpreter's environment,
    else this interpreter running the CLI."""
    script = Path(sys.executable).parent / "dcellx"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from dcellx_cli.main import main; main()"]


def array_spec(n: int, parallel: int | None, indices: list[int] | None = None) -> str:
    """``0-(n-1)%K``, or the listed indices (``3,5,8%K``)."""
    if indices is not None:
        spec = ",".join(str(i) for i in indices)
    else:
        spec = f"0-{n - 1}" if n > 1 else "0"
    return spec + (f"%{parallel}" if parallel else "")


def render_script(
    sweep_dir: Path,
    n_points: int,
    opts: SlurmOptions,
    workdir: Path,
    ddp: bool = False,
    sync_bn: bool = False,
    command: list[str] | None = None,
    indices: list[int] | None = None,
) -> str:
    """The sbatch script text (see the module docstring for what it does on signals)."""
    q = shlex.quote
    name = opts.job_name or f"dcellx-{sweep_dir.name}"
    sb = [
        f"--job-name={name}",
        f"--array={array_spec(n_points, opts.array_parallel, indices)}",
        f"--output={sweep_dir / LOGS / '%A_%a.out'}",
        "--open-mode=append",
        f"--chdir={workdir}",
        "--requeue",
        f"--signal={opts.signal}",
    ]
    if opts.partition:
        sb.append(f"--partition={opts.partition}")
    if opts.time:
        sb.append(f"--time={opts.time}")
    if ddp:
        sb += [f"--nodes={opts.nodes}", f"--ntasks-per-node={opts.ranks_per_node()}"]
    else:
        sb.append("--ntasks=1")
    if opts.cpus:
        sb.append(f"--cpus-per-task={opts.cpus}")
    if opts.gpus:
        sb.append(f"--gpus-per-node={opts.gpus}")
    if opts.mem:
        sb.append(f"--mem={opts.mem}")
    sb += opts.extra
    cmd = " ".join(q(c) for c in (command or dcellx_command()))
    run_args = f'sweep-run {q(str(sweep_dir))} --point "$SLURM_ARRAY_TASK_ID"'
    if ddp:
        run_args += " --ddp" + (" --sync-bn" if sync_bn else "")
    sig = opts.signal_name()
    lines = [
        "#!/bin/bash",
        f"# dcellx sweep {sweep_dir.name}: {n_points} points, one array task each.",
        "# Generated by `dcellx slurm`; submit with `sbatch` (again at any time: finished points",
        "# exit at once, interrupted ones resume from their checkpoints).",
        *(f"#SBATCH {q(s)}" for s in sb),
        "",
        "set -u",
        f"DCELLX=({cmd})",
        'echo "[$(date -Is)] task $SLURM_ARRAY_TASK_ID, job $SLURM_JOB_ID on $(hostname -s)," \\',
        '     "restart ${SLURM_RESTART_COUNT:-0}"',
    ]
    if ddp:
        lines += [
            "# torch.distributed rendezvous: the allocation's first node, a port from the job id",
            'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            "export MASTER_ADDR",
            "export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))",
            f'srun --kill-on-bad-exit=1 "${{DCELLX[@]}}" {run_args} &',
        ]
    else:
        lines.append(f'"${{DCELLX[@]}}" {run_args} &')
    lines += [
        "child=$!",
        "# A trap runs only between foreground commands: with dcellx in the background and the",
        "# script in `wait`, the signal is forwarded at once; dcellx checkpoints and exits 143.",
        f"trap 'kill -TERM \"$child\" 2>/dev/null' {sig}",
        "while :; do",
        '    wait "$child"; rc=$?',
        '    kill -0 "$child" 2>/dev/null || break  # a trapped signal ends `wait` early',
        "done",
        'if [ "$rc" -eq 143 ]; then',
        "    # Checkpointed on TERM. After the time-limit warning only this requeues the",
        "    # task; after preemption or `scontrol requeue` SLURM already has, and refuses",
        "    # this second request (harmless).",
        '    scontrol requeue "$SLURM_JOB_ID" 2>/dev/null || true',
        "fi",
        'echo "[$(date -Is)] task $SLURM_ARRAY_TASK_ID exit $rc"',
        'exit "$rc"',
        "",
    ]
    return "\n".join(lines)


def prepare_sweep(plan: SweepPlan, sweep_dir: str | Path | None, runs_dir: str | Path) -> Path:
    """Create (or reuse, if it holds the same plan) the sweep directory and its ``sweep.json``."""
    path = prepare_sweep_dir(plan, sweep_dir, runs_dir)
    (path / LOGS).mkdir(exist_ok=True)
    return path.resolve()


@dataclass
class ArrayJob:
    sweep_dir: Path
    script: Path
    points: int
    job_id: str | None = None


def write_array(
    plan: SweepPlan,
    opts: SlurmOptions,
    sweep_dir: str | Path | None = None,
    runs_dir: str | Path = "runs",
    ddp: bool = False,
    sync_bn: bool = False,
    workdir: str | Path | None = None,
    command: list[str] | None = None,
) -> ArrayJob:
    """Write ``sweep.json`` and ``slurm.sbatch`` for ``plan``; nothing is submitted."""
    opts.validate()
    if sync_bn and not ddp:
        raise ConfigError("--sync-bn synchronises BatchNorm across processes: use it with --ddp")
    # every path that goes into the script, checked before the sweep directory is made
    where = ("--sweep-dir", sweep_dir) if sweep_dir is not None else ("--runs-dir", runs_dir)
    check_script_text(where[0], str(Path(where[1]).resolve()))
    check_script_text("working directory", str(Path(workdir or Path.cwd()).resolve()))
    for part in command or dcellx_command():
        check_script_text("dcellx command", part)
    path = prepare_sweep(plan, sweep_dir, runs_dir)
    n = len(plan.points())
    text = render_script(
        path, n, opts, Path(workdir or Path.cwd()).resolve(), ddp, sync_bn, command
    )
    script = path / SCRIPT
    script.write_text(text)
    script.chmod(0o755)
    return ArrayJob(path, script, n)


def submit(job: ArrayJob, env: dict[str, str] | None = None) -> str:
    """``sbatch --parsable`` the script; record and return the job id."""
    if not shutil.which("sbatch", path=(env or {}).get("PATH")):
        raise ConfigError("sbatch not found: run on a SLURM login node (or drop --submit)")
    res = subprocess.run(
        ["sbatch", "--parsable", str(job.script)], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    if res.returncode != 0:
        raise ConfigError(f"sbatch failed: {res.stderr.strip() or res.stdout.strip()}")
    job.job_id = res.stdout.strip().split(";")[0]
    record = job.sweep_dir / JOBS
    jobs = read_json(record) if record.exists() else []
    jobs.append({"job_id": job.job_id, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    write_json(record, jobs)
    return job.job_id


# -- status ------------------------------------------------------------------------------------
@dataclass
class TaskStatus:
    """One planned point: ``finished``, ``running``, ``pending``, ``interrupted`` (a checkpoint,
    nothing queued), ``failed`` (ran, did not finish, nothing queued) or ``missing``."""

    point: int
    label: str
    state: str
    run_id: str | None = None
    epochs: int | None = None
    slurm: str | None = None  # squeue's state (and reason) while queued
    log: str | None = None


def queued_tasks(job_name: str, env: dict[str, str] | None = None) -> dict[int, str] | None:
    """Array task index -> "STATE (reason)" for this sweep's queued tasks; ``None`` if SLURM
    cannot be asked here."""
    if not shutil.which("squeue", path=(env or {}).get("PATH")):
        return None
    try:
        res = subprocess.run(
            ["squeue", "-h", "-r", "--name", job_name, "-o", "%i|%T|%r"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    out: dict[int, str] = {}
    for line in res.stdout.splitlines():
        job, _, rest = line.partition("|")
        state, _, reason = rest.partition("|")
        if "_" in job and job.rsplit("_", 1)[1].isdigit():
            reason = "" if reason in ("None", "") else f" ({reason})"
            out[int(job.rsplit("_", 1)[1])] = state + reason
    return out


def _job_name(sweep_dir: Path) -> str:
    """The job name in the sweep's script (``--job-name`` may have been customised)."""
    script = sweep_dir / SCRIPT
    if script.is_file():
        m = re.search(r"^#SBATCH --job-name=(\S+)", script.read_text(), re.MULTILINE)
        if m:
            return m.group(1).strip("'")
    return f"dcellx-{sweep_dir.name}"


def sweep_status(sweep_dir: str | Path, env: dict[str, str] | None = None) -> list[TaskStatus]:
    """Every planned point's state, from its run directories, SLURM's queue and the task logs."""
    sweep_dir = Path(sweep_dir)
    plan = load_plan(sweep_dir)
    queue = queued_tasks(_job_name(sweep_dir), env) or {}
    out = []
    for i, (point, runs) in enumerate(zip(plan.points(), point_runs(sweep_dir, plan), strict=True)):
        logs = sorted((sweep_dir / LOGS).glob(f"*_{i}.out"), key=lambda p: p.stat().st_mtime)
        st = TaskStatus(i, point_label(point), "missing", slurm=queue.get(i))
        st.log = str(logs[-1]) if logs else None
        done = [r for r in runs if (r / "summary.json").is_file()]
        run = done[-1] if done else (runs[-1] if runs else None)
        if run is not None:
            st.run_id = run.name
            if (run / "metrics.csv").is_file():
                st.epochs = len(read_metrics(run))
        if done:
            st.state = "finished"
        elif i in queue:
            st.state = "running" if queue[i].startswith(("RUNNING", "COMPLETING")) else "pending"
        elif run is not None and (run / "checkpoint-last.pt").is_file():
            st.state = "interrupted"
        elif run is not None or logs:
            st.state = "failed"
        out.append(st)
    return out


def status_json(statuses: list[TaskStatus]) -> str:
    return json.dumps([asdict(s) for s in statuses], indent=2)
