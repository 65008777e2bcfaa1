"""coursekit: the reference code of the course *Gradient Descent, from one machine to many*.

The maths lives in modules that import NumPy alone:

- :mod:`coursekit.objectives`  objectives with ``value`` / ``grad`` / ``hess``
- :mod:`coursekit.optimize`    gradient descent, SGD, Newton, update rules, schedules
- :mod:`coursekit.gradcheck`   numerical gradients and relative errors
- :mod:`coursekit.data`        synthetic data, the digits images, seeded batch iterators
- :mod:`coursekit.nn`          the NumPy VGG-style CNN
- :mod:`coursekit.distributed` cost model, simulated cluster, partial offloading, MPI
- :mod:`coursekit.claims`      `claim`: the guard a chapter puts under a sentence about its results

Leaves that need matplotlib / ipywidgets: :mod:`coursekit.plotting`, :mod:`coursekit.widgets`.
Submodules are imported explicitly (``from coursekit import optimize``) so that importing
the package never pulls in matplotlib.
"""

__version__ = "0.1.0"
