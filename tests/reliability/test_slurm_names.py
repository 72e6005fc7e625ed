"""Issue 14 item 8: a control character (a newline above all) in any name that goes into the
generated SLURM script is refused, one line and exit 2, before the sweep directory exists:
``shlex.quote`` protects a command's arguments but not a comment or an ``#SBATCH`` line, where a
newline starts a new command."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcellx.errors import ConfigError
from dcellx.scale.slurm import SlurmOptions, write_array
from dcellx.train.compare import RunSpec, plan_sweep
from tests.reliability.conftest import left_behind, refused

SLURM = ["slurm", "overfit", "--go", "dna-repair", "--epochs", "2"]


def test_a_newline_in_the_sweep_dir_is_refused(tmp_path: Path, cli) -> None:
    sweep = tmp_path / "sweep\necho pwned"
    line = refused(cli(*SLURM, "--sweep-dir", sweep))
    assert line == (
        f"error: --sweep-dir {str(sweep)!r}: control character '\\n' (U+000A) in a name that "
        "goes into the SLURM script"
    )
    assert not any(p.name.startswith("sweep") for p in tmp_path.iterdir())
    assert left_behind(tmp_path) == []


def test_a_newline_in_the_runs_dir_is_refused(tmp_path: Path, cli) -> None:
    runs = tmp_path / "runs\nrm -rf ~"
    refused(cli(*SLURM, "--runs-dir", runs), "--runs-dir", "control character '\\n'")
    assert not runs.exists() and left_behind(tmp_path) == []


@pytest.mark.parametrize(
    ("flag", "value", "shown"),
    [
        ("--job-name", "dcellx\nrm -rf ~", "'\\n' (U+000A)"),
        ("--partition", "cpu\r", "'\\r' (U+000D)"),
        ("--time", "10:00\n", "'\\n' (U+000A)"),
        ("--mem", "16G\t", "'\\t' (U+0009)"),
        ("--signal", "B:TERM@120\n", "'\\n' (U+000A)"),
        ("--sbatch", "--account=lab\necho pwned", "'\\n' (U+000A)"),
        ("--sbatch", "--comment=\x1b[2J", "'\\x1b' (U+001B)"),
        ("--sbatch", "--comment=a\u2028b", "'\\u2028' (U+2028)"),
    ],
    ids=["job-name", "partition-cr", "time", "mem-tab", "signal", "sbatch", "escape", "u2028"],
)
def test_a_control_character_in_an_option_is_refused(
    tmp_path: Path, cli, flag: str, value: str, shown: str
) -> None:
    runs = tmp_path / "runs"
    line = refused(cli(*SLURM, f"{flag}={value}", "--runs-dir", runs))
    assert line == (
        f"error: {flag} {value!r}: control character {shown} in a name that goes into the "
        "SLURM script"
    )
    assert not runs.exists()


def test_the_library_refuses_a_control_character_in_the_command(tmp_path: Path) -> None:
    plan = plan_sweep(["binary"], [0], "overfit", {}, RunSpec(fields={"go": "dna-repair"}))
    with pytest.raises(ConfigError, match="dcellx command 'dcellx\\\\nx': control character"):
        write_array(plan, SlurmOptions(), tmp_path / "sweep", command=["dcellx\nx"])
    with pytest.raises(ConfigError, match="working directory"):
        write_array(plan, SlurmOptions(), tmp_path / "sweep", workdir=tmp_path / "w\nx")
    assert not (tmp_path / "sweep").exists()


def test_ordinary_names_still_work(tmp_path: Path, cli) -> None:
    sweep = tmp_path / "my sweep (v2)"
    res = cli(*SLURM, "--sweep-dir", sweep, "--job-name", "dcellx-v2", "--time", "01:00:00")
    assert res.code == 0, res.err
    script = (sweep / "slurm.sbatch").read_text()
    assert "#SBATCH --job-name=dcellx-v2" in script and "#SBATCH --time=01:00:00" in script
    assert f"# dcellx sweep {sweep.name}: 1 points" in script
