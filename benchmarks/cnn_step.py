"""Time one training step of the NumPy CNN against NumPy's own GEMM rate.

The step is forward + backward + Adam update of conv16-16-pool-conv32-32-pool-linear10
(``coursekit.nn.model.vgg([16, 16, "M", 32, 32, "M"])``) on a batch of 64 float32
images, for 1 x 28 x 28 and 1 x 8 x 8 inputs, with 1 and 2 threads
(``threadpoolctl.threadpool_limits``). With 2 threads ``VGG.loss`` splits the batch into
one shard per thread when every shard has enough work
(:mod:`coursekit.nn.data_parallel`); ``shards`` says how many the step used. A threaded
case also times the same step on one thread in each repeat (``step_1_thread_ms``), so
``speedup_vs_1_thread_interleaved`` compares the two under the same load
(``speedup_vs_1_thread`` compares with the 1-thread case, run earlier). Its
analytical FLOPs (2 per multiply-add of the convolutions and the linear layer,
:func:`coursekit.nn.analysis.step_flops`) divided by the median step time give
``gflops``; dividing by the float32 GEMM rate measured in the same run and with the
same thread count (a 1024^3 ``np.matmul``, median of as many runs as steps, at least 5,
interleaved with the steps so that both see the same machine load) gives
``gemm_efficiency``: the fraction of the machine's dense-matrix speed the whole step
achieves. With ``t > 1`` threads the yardstick is ``t`` single-threaded products run at
once in ``t`` Python threads, the way the step's shards use the cores, not one product
on OpenBLAS's own threads: those gain little on this machine (about 1.2x on 2 cores,
against 1.9x for two products side by side), and after one of them a step split into
shards ran at one-thread speed for the rest of the process's second (measured: 43 ms
after a threaded product, even 1 s later, against 22 ms without one).

Nothing sleeps between the timed calls: on this virtual machine a core left idle for a
few tens of milliseconds is slow to come back, and a 2-shard step that follows a quarter
second of sleep took 51 ms against 21-29 ms back to back (measured); a training loop never
sleeps between its steps. So a threaded case's GEMM, which keeps both cores busy, comes
last in each repeat, right before the next threaded step.

For the 8 x 8 case the same step with the loop convolution
(``vgg(..., conv="loop")``) is timed too (``loop_step_ms``, ``speedup``).

Every step is also timed in CPU seconds of the process (``step_cpu_ms``, user + system
of all its threads): on a machine shared with other work, wall time counts the waits
for a core and CPU time does not, so with 1 thread ``step_cpu_ms`` is the better
measure of the work itself.

``--against-torch`` also runs the same network in PyTorch (``torch.nn.Conv2d``,
``ReLU``, ``MaxPool2d``, ``Linear``, cross-entropy, ``torch.optim.Adam``, same batch,
float32, ``torch.set_num_threads`` = the case's threads), interleaved with the NumPy
step and the GEMM in the same loop, and adds ``torch_step_ms``, ``torch_step_cpu_ms``,
``ratio_to_torch`` (coursekit / PyTorch, median wall times: below 1 means coursekit is
faster) and ``cpu_ratio_to_torch``. PyTorch is NOT a dependency of the course: install
it in a separate environment outside the repository and run this file with that
interpreter and the repository on ``PYTHONPATH``. PyPI's Linux wheel pulls the CUDA
libraries it links to (about 5 GB) even to run on the CPU::

    python3 -m venv /tmp/torch-venv
    /tmp/torch-venv/bin/pip install torch==2.14.1 numpy==2.4.6 threadpoolctl==3.8.0
    PYTHONPATH=. /tmp/torch-venv/bin/python benchmarks/cnn_step.py --against-torch --no-loop

Without PyTorch the run says so (one JSON line with ``"torch"``) and reports the rest.
PyTorch's OpenMP threads keep spinning for a while after each of its threaded steps and
take the second core from the NumPy step that follows (measured: the 2-shard step took
27-33 ms with PyTorch in the loop, 24 ms without), so read the 2-thread speed-up
(``speedup_vs_1_thread``) from a run without ``--against-torch``.

``--layers`` adds, per input size, one line ``"layers"``: every layer's forward and
backward CPU milliseconds on one thread (:func:`coursekit.nn.analysis.step_breakdown`,
median of ``--repeats`` passes) and ``python_calls_per_step``, the calls ``cProfile``
counts in one training step (Python functions and built-in methods; NumPy's ufuncs such as
``np.matmul`` are not counted): where the step's time goes, and its fixed cost on small
images.

Prints one JSON line per case. Not a test: the numbers depend on the machine and its
load (``step_ms_min`` is the least disturbed step). Usage::

    python benchmarks/cnn_step.py [--repeats 15] [--loop-repeats 3] [--no-loop]
                                  [--threads 1 2] [--against-torch] [--layers]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from coursekit.nn import analysis, conv_fast, data_parallel
from coursekit.nn.model import vgg

CONFIG = [16, 16, "M", 32, 32, "M"]
BATCH = 64


GEMM_N = 1024


def make_gemm(threads=1, n=GEMM_N):
    """A closure running ``threads`` float32 ``n x n x n`` matmuls at once, each on one BLAS
    thread in its own Python thread (``2 n^3`` FLOPs each), and its total FLOPs."""
    products = [analysis.make_gemm(n, np.float32, seed=t)[0] for t in range(threads)]
    if threads == 1:
        return products[0], 2 * n**3
    pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="gemm")

    def gemm():
        with conv_fast.one_blas_thread():
            others = [pool.submit(p) for p in products[1:]]
            products[0]()
            for f in others:
                f.result()

    return gemm, threads * 2 * n**3


def make_step(hw, conv="fast"):
    """A closure running one training step (forward, backward, Adam) and its FLOPs."""
    model = vgg(CONFIG, input_shape=(1, hw, hw), n_classes=10, seed=0, dtype=np.float32, conv=conv)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, hw, hw), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    return analysis.make_train_step(model, x, y, "adam", 1e-3), analysis.step_flops(model, BATCH)


def make_torch_step(hw, torch):
    """The same network and training step in PyTorch (a closure), on the same batch."""
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * (hw // 4) ** 2, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((BATCH, 1, hw, hw), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, BATCH))

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()

    return step


def timed(fn):
    """(wall seconds, CPU seconds of the process) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def measure(hw, repeats, gemm, torch=None, warmup=2, also_one_thread=False):
    """Step, GEMM (and PyTorch step) times, interleaved so all see the same load.

    The machine may be shared: alternating one step (one PyTorch step) and one GEMM per
    repeat makes the ratios robust to load that changes during the run. The GEMM comes
    last in each repeat. With ``also_one_thread`` the same step is also timed on one thread
    in each repeat, right after the threaded one. Each step runs twice in a row and only
    the second run is timed, so that no step is timed right after different work.

    Returns a dict of arrays of (wall, cpu) pairs, shape (repeats, 2): ``step``, ``gemm``,
    ``torch`` (with PyTorch) and ``step_1_thread`` (with ``also_one_thread``); and the
    step's FLOPs.
    """
    step, flops = make_step(hw)
    steps = {"step": step}
    if also_one_thread:
        steps["step_1_thread"] = step
    if torch is not None:
        steps["torch"] = make_torch_step(hw, torch)

    def limit(name):
        # BLAS limited to one thread for the 1-thread step only, entered OUTSIDE the timed
        # call: threadpool_limits scans every loaded library each time (0.2 ms with NumPy
        # alone, 0.8 ms with PyTorch loaded, 15 % of an 8 x 8 step), which would make the
        # 1-thread reference look slower than it is.
        return threadpool_limits(1) if name == "step_1_thread" else contextlib.nullcontext()

    for _ in range(warmup):
        for name, fn in steps.items():
            with limit(name):
                fn()
    times = {name: [] for name in [*steps, "gemm"]}
    for _ in range(max(repeats, 5)):
        for name, fn in steps.items():
            with limit(name):
                # Twice, the first untimed: the first step after other work finds the
                # caches cold (the GEMM's 12 MB evicted its buffers) and, after work on
                # one thread, the second core asleep; a training loop runs its steps
                # back to back.
                fn()
                times[name].append(timed(fn))
        times["gemm"].append(timed(gemm))
    return {name: np.array(t) for name, t in times.items()}, flops


def layer_profile(hw, repeats):
    """One JSON-ready dict: each layer's forward/backward CPU ms on one thread and the
    Python-level calls of one training step (``cProfile``, mean over 10 steps)."""
    model = vgg(CONFIG, input_shape=(1, hw, hw), n_classes=10, seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, hw, hw), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    with threadpool_limits(1):
        rows = analysis.step_breakdown(model, x, y, repeats=repeats, clock=time.thread_time)
        step, _ = make_step(hw)
        step()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(10):
            step()
        prof.disable()
    calls = sum(v[1] for v in pstats.Stats(prof).stats.values()) / 10
    return {
        "layers": f"1x{hw}x{hw}",
        "threads": 1,
        "cpu_ms_forward_backward": {
            r["name"]: [round(r["forward_s"] * 1e3, 3), round(r["backward_s"] * 1e3, 3)]
            for r in rows
            if r["kind"] != "relu"  # fused into the convolutions
        },
        "python_calls_per_step": round(calls),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def import_torch():
    """``(torch, None)`` when PyTorch is importable, else ``(None, the reason)``."""
    try:
        import torch
    except Exception as exc:  # not installed, or a broken install: report and go on
        return None, f"{type(exc).__name__}: {exc}"
    return torch, None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--repeats",
        type=int,
        default=15,
        help="timed steps (and interleaved GEMMs, at least 5) per case",
    )
    p.add_argument("--loop-repeats", type=int, default=3, help="timed loop-version steps")
    p.add_argument("--no-loop", action="store_true", help="skip the loop version")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument(
        "--against-torch",
        action="store_true",
        help="also time the same network in PyTorch, if importable",
    )
    p.add_argument(
        "--layers",
        action="store_true",
        help="also print each layer's CPU ms and the Python calls per step",
    )
    args = p.parse_args(argv)
    torch = None
    if args.against_torch:
        torch, why = import_torch()
        if torch is None:
            print(json.dumps({"torch": f"not importable ({why}); coursekit only"}), flush=True)
    blas = [
        f"{i.get('internal_api')} {i.get('version')}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    one_thread = {}
    for threads in args.threads:
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(threads):
            gemm, gemm_flop = make_gemm(threads)
            for hw in (28, 8):
                times, flops = measure(hw, args.repeats, gemm, torch, also_one_thread=threads > 1)
                steps, gemms, tsteps = times["step"], times["gemm"], times.get("torch")
                med = float(np.median(steps[:, 0]))
                gemm_rate = gemm_flop / float(np.median(gemms[:, 0])) / 1e9
                rate = flops / med / 1e9
                row = {
                    "input": f"1x{hw}x{hw}",
                    "threads": threads,
                    "batch": BATCH,
                    "step_ms": round(med * 1e3, 3),
                    "step_ms_min": round(float(steps[:, 0].min()) * 1e3, 3),
                    "step_cpu_ms": round(float(np.median(steps[:, 1])) * 1e3, 3),
                    "gflops": round(rate, 2),
                    "gemm_gflops": round(gemm_rate, 2),
                    "gemm_efficiency": round(rate / gemm_rate, 3),
                    "step_mflop": round(flops / 1e6, 2),
                    "shards": data_parallel.threads_for(
                        vgg(CONFIG, input_shape=(1, hw, hw)), BATCH, threads
                    ),
                    "repeats": len(steps),
                    "blas": ", ".join(blas),
                }
                if threads == 1:
                    one_thread[hw] = med
                elif hw in one_thread:
                    # Measured minutes apart: on a loaded machine only indicative.
                    row["speedup_vs_1_thread"] = round(one_thread[hw] / med, 2)
                if "step_1_thread" in times:
                    # The same step on one thread, alternated with the threaded one.
                    med1 = float(np.median(times["step_1_thread"][:, 0]))
                    row["step_1_thread_ms"] = round(med1 * 1e3, 3)
                    row["speedup_vs_1_thread_interleaved"] = round(med1 / med, 2)
                if tsteps is not None:
                    tmed = float(np.median(tsteps[:, 0]))
                    tcpu = float(np.median(tsteps[:, 1]))
                    row.update(
                        {
                            "torch_step_ms": round(tmed * 1e3, 3),
                            "torch_step_cpu_ms": round(tcpu * 1e3, 3),
                            "ratio_to_torch": round(med / tmed, 3),
                            "cpu_ratio_to_torch": round(float(np.median(steps[:, 1])) / tcpu, 3),
                            "torch": torch.__version__,
                        }
                    )
                if hw == 8 and not args.no_loop:
                    loop_step, _ = make_step(hw, conv="loop")
                    lmed = float(np.median([timed(loop_step)[0] for _ in range(args.loop_repeats)]))
                    row["loop_step_ms"] = round(lmed * 1e3, 1)
                    row["speedup"] = round(lmed / med, 1)
                # Other processes' load: the numbers are only as quiet as the machine.
                row["loadavg_1min"] = round(os.getloadavg()[0], 2)
                print(json.dumps(row), flush=True)
    if args.layers:
        for hw in (28, 8):
            print(json.dumps(layer_profile(hw, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
