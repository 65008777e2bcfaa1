"""Offloading the gradient: cost model, simulated cluster, partial offloading, MPI backend.

- :mod:`~coursekit.distributed.cost`         the alpha-beta model: message, all-reduce, compute
- :mod:`~coursekit.distributed.collectives`  all-reduce algorithms message by message
- :mod:`~coursekit.distributed.offload`      partial offloading: step time, optimal split
- :mod:`~coursekit.distributed.simulate`     a simulated cluster that really trains
- :mod:`~coursekit.distributed.compression`  top-k with error feedback, QSGD: what a worker sends
- :mod:`~coursekit.distributed.scaling`      strong scaling: runs, step-time breakdown, prediction
- :mod:`~coursekit.distributed.mpi`          the same algorithm on real processes (mpi4py)
- :mod:`~coursekit.distributed.measure`      mpiexec runs for P = 1, 2, ... beside the cost model
- :mod:`~coursekit.distributed.cnn`          chapter 7's CNN as one flat parameter vector
- :mod:`~coursekit.distributed.accuracy`     time to accuracy: linear scaling, noise scale
- :mod:`~coursekit.distributed.stragglers`   backup workers: the expected wait H(p+s) - H(s)

A typical experiment (see each module for the maths)::

    from coursekit.distributed import Cluster, cost, offload
    from coursekit.distributed.simulate import simulate

    cluster = Cluster(8, latency=1e-5, bandwidth=1.25e9, straggler_prob=0.05)
    h = simulate(f, x0, cluster=cluster, strategy="backup", backups=1, steps=200, lr=0.1)
    h.wall_clock, h.losses, h.speedup          # loss against simulated time
    h.timeline.intervals(steps=slice(0, 5))    # compute / wait / send / receive, for a Gantt
    cost.allreduce_time(8 * f.dim, 8, 1e-5, 1.25e9, algorithm="ring")
    offload.optimal_fraction(work=1e9, local_rate=1e9, remote_rate=4e9, link_rate=1e8)

Everything here imports NumPy only (mpi4py only inside :mod:`~coursekit.distributed.mpi`, tqdm
only when a progress bar is asked for) and returns plain data for the book to plot.
"""

from . import collectives, compression, cost, offload, scaling, simulate
from .simulate import Cluster, SimulationHistory

__all__ = [
    "collectives",
    "compression",
    "cost",
    "offload",
    "scaling",
    "simulate",
    "Cluster",
    "SimulationHistory",
]
