"""A real single-node SLURM (munge + slurmctld + slurmd) in a private directory, for the test suite
and for trying ``dcellx slurm`` on a laptop or CI machine.

Nothing is written to ``/etc/slurm``: the configuration, state, spool, logs and pid files live in
one directory and ``SLURM_CONF`` points at it (export it for ``sbatch``/``squeue``/``scontrol``).
Ports are picked free at start, so a system SLURM or a leftover test cluster does not collide.
Needs root (slurmd runs jobs as their owner; munged as user munge) and the Debian/Ubuntu packages
``slurmctld slurmd slurm-client munge`` (``install()``, about 7 s). Daemons are started detached
(their own session) and stopped by their pid files; a killed daemon can linger as a zombie of its
parent, so ``stop`` waits for the pid file to vanish rather than for the process to disappear.

    python -m dcellx.scale.localslurm install
    python -m dcellx.scale.localslurm start --dir /tmp/dcellx-slurm   # prints export SLURM_CONF=...
    python -m dcellx.scale.localslurm stop --dir /tmp/dcellx-slurm
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
MUNGE_PID = MUNGE_RUN / "munged.pid"
MUNGE_SOCKET = MUNGE_RUN / "munge.socket.2"


class SlurmUnavailable(RuntimeError):
    """This machine cannot run a local SLURM (the reason is the message)."""


def unavailable_reason() -> str | None:
    """Why a local SLURM cannot be installed and started here, or ``None``."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "needs a POSIX system"
    if os.geteuid() != 0:
        return "needs root (slurmd runs jobs as their owner, munged as user munge)"
    have = all(shutil.which(b) for b in ("slurmctld", "slurmd", "sbatch", "munged"))
    if not have and not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    return None


def _run(cmd: list[str], timeout: float = 300, env: dict[str, str] | None = None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def install() -> None:
    """``apt-get install`` the daemons and clients unless they are already there (``apt-get
    update`` first only if the package lists are missing or stale)."""
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    res = _run(cmd, env=env)
    if res.returncode != 0:
        _run(["apt-get", "update"], env=env)
        res = _run(cmd, env=env)
    if res.returncode != 0:
        raise SlurmUnavailable(
            f"apt-get install {' '.join(PACKAGES)} failed:\n{res.stderr[-2000:]}"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 1024


def _munge_works() -> bool:
    if not shutil.which("munge"):
        return MUNGE_SOCKET.exists()
    enc = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if enc.returncode != 0:
        return False
    dec = subprocess.run(["unmunge"], input=enc.stdout, capture_output=True, timeout=10)
    return dec.returncode == 0


def start_munge() -> bool:
    """Start munged as user munge unless one answers already; ``True`` if this call started it."""
    if _munge_works():
        return False
    if not MUNGE_KEY.exists():
        maker = shutil.which("mungekey")
        cmd = [maker, "--create", "--keyfile", str(MUNGE_KEY)] if maker else ["create-munge-key"]
        res = _run(cmd)
        if res.returncode != 0:
            raise SlurmUnavailable(f"cannot create {MUNGE_KEY}: {res.stderr.strip()}")
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o400)
    MUNGE_RUN.mkdir(parents=True, exist_ok=True)
    shutil.chown(MUNGE_RUN, "munge", "munge")
    MUNGE_RUN.chmod(0o755)
    res = _run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force"], timeout=30)
    if res.returncode != 0:
        raise SlurmUnavailable(f"munged did not start: {res.stderr.strip()}")
    _wait(_munge_works, 10, "munged does not answer")
    return True


def _wait(ok, timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(poll)
    raise SlurmUnavailable(what)


@dataclass
class LocalSlurm:
    """A running single-node cluster: its directory, config and the environment to talk to it."""

    root: Path
    node: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    started_munge: bool = False

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with ``SLURM_CONF`` set."""
        return {**(os.environ if base is None else base), "SLURM_CONF": str(self.conf)}

    def node_state(self) -> str:
        res = _run(["sinfo", "-h", "-n", self.node, "-o", "%t"], timeout=10, env=self.env())
        return res.stdout.strip() if res.returncode == 0 else ""


def write_conf(root: Path, node: str, cpus: int, memory_mb: int) -> Path:
    """slurm.conf for one node with ``cpus`` cores, no accounting, no cgroups, fast requeue
    (credentials expire after 10 s and the scheduler runs every 2 s, so a requeued job restarts in
    about 12 s instead of about 150 s)."""
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    lines = [
        "ClusterName=dcellx",
        f"SlurmctldHost={node}",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "AuthInfo=cred_expire=10",
        "MailProg=/bin/true",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerParameters=sched_interval=2,bf_interval=1",
        "ReturnToService=2",
        "MaxArraySize=10001",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        f"NodeName={node} CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1 "
        f"RealMemory={memory_mb} State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = root / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start(root: str | Path, timeout: float = 60) -> LocalSlurm:
    """Install if needed, start munged, slurmctld and slurmd, and wait until the node is idle."""
    reason = unavailable_reason()
    if reason:
        raise SlurmUnavailable(reason)
    install()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory = max(256, int(_free_memory_mb() * 0.8))
    write_conf(root, node, cpus, memory)
    cluster = LocalSlurm(root, node)
    cluster.started_munge = start_munge()
    env = cluster.env()
    for daemon in ("slurmctld", "slurmd"):
        log = open(root / "log" / f"{daemon}.out", "ab")  # noqa: SIM115 -- the daemon keeps it
        cluster.procs.append(
            subprocess.Popen(
                [daemon, "-D", "-f", str(cluster.conf)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        )
        log.close()
    try:
        _wait(lambda: cluster.node_state() in ("idle", "mix", "alloc"), timeout,
              f"the node did not come up; see {root / 'log'}")  # fmt: skip
    except SlurmUnavailable:
        stop(root, cluster)
        raise
    (root / "munge.started").write_text("1" if cluster.started_munge else "0")
    return cluster


def _stop_pidfile(pidfile: Path, timeout: float = 30) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return
    deadline = time.monotonic() + timeout
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if pidfile.exists():  # did not shut down cleanly
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pidfile.unlink(missing_ok=True)


def cancel_jobs(root: Path, timeout: float = 30) -> None:
    """Cancel every job of this cluster and wait for them to leave (so no job outlives slurmd)."""
    env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    if not (root / "slurmctld.pid").exists():
        return
    _run(["scancel", "--full", "--user", str(os.geteuid())], timeout=30, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = _run(["squeue", "-h", "-o", "%i"], timeout=30, env=env)
        if res.returncode != 0 or not res.stdout.strip():
            return
        time.sleep(0.5)


def stop(root: str | Path, cluster: LocalSlurm | None = None) -> None:
    """Cancel the cluster's jobs, then stop slurmd, slurmctld (and munged if ``start`` started
    it) by their pid files."""
    root = Path(root)
    cancel_jobs(root)
    _stop_pidfile(root / "slurmd.pid")
    _stop_pidfile(root / "slurmctld.pid")
    for proc in cluster.procs if cluster else []:
        try:
            proc.wait(timeout=10)  # reap: no zombie left behind in this process
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    marker = root / "munge.started"
    if marker.exists() and marker.read_text() == "1":
        _stop_pidfile(MUNGE_PID)
        marker.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dcellx.scale.localslurm", description=__doc__)
    ap.add_argument("action", choices=("install", "start", "stop"))
    ap.add_argument("--dir", default="/tmp/dcellx-slurm", help="config, state and logs")
    args = ap.parse_args(argv)
    try:
        if args.action == "install":
            reason = unavailable_reason()
            if reason:
                raise SlurmUnavailable(reason)
            install()
        elif args.action == "start":
            cluster = start(args.dir)
            print(f"export SLURM_CONF={cluster.conf}")
        else:
            stop(args.dir)
    except SlurmUnavailable as exc:
        print(f"local SLURM: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
