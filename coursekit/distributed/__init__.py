"""Offloading the gradient: cost model, simulated cluster, partial offloading, MPI backend.

- :mod:`~coursekit.distributed.cost`         the alpha-beta model: message, all-reduce, compute
- :mod:`~coursekit.distributed.collectives`  all-reduce algorithms message by message
- :mod:`~coursekit.distributed.offload`      partial offloading: step time, optimal split
- :mod:`~coursekit.distributed.simulate`     a simulated cluster that really trains
- :mod:`~coursekit.distributed.mpi`          the same algorithm on real processes (mpi4py)

Everything here imports NumPy only (mpi4py only inside :mod:`~coursekit.distributed.mpi`, tqdm
only when a progress bar is asked for) and returns plain data for the book to plot.
"""

from . import collectives, cost, offload, simulate
from .simulate import Cluster, SimulationHistory

__all__ = ["collectives", "cost", "offload", "simulate", "Cluster", "SimulationHistory"]
