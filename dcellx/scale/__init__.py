"""The scale layer (6): SLURM job arrays (``slurm``), a test cluster (``localslurm``), one
sweep point per array task (``task``) and multi-process data parallel training (``ddp``).

Everything here drives real engines (``sbatch``/``squeue``/``scontrol``, ``torch.distributed``);
dcellx never schedules work itself.
"""
