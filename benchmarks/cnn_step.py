"""Time one training step of the NumPy CNN against NumPy's own GEMM rate.

The step is forward + backward + Adam update of conv16-16-pool-conv32-32-pool-linear10
(``coursekit.nn.model.vgg([16, 16, "M", 32, 32, "M"])``) on a batch of 64 float32
images, for 1 x 28 x 28 and 1 x 8 x 8 inputs, with 1 and 2 threads
(``threadpoolctl.threadpool_limits``; the convolution runs its chunks on that many
threads). Its analytical FLOPs (2 per multiply-add of the convolutions and the linear
layer, :func:`coursekit.nn.analysis.step_flops`) divided by the median step time give
``gflops``; dividing by the float32 GEMM rate measured in the same run and with the
same thread count (a 1024^3 ``np.matmul``, median of as many runs as steps, at least 5,
interleaved with the steps so that both see the same machine load) gives
``gemm_efficiency``: the fraction of the machine's dense-matrix speed the whole step
achieves.

For the 8 x 8 case the same step with the loop convolution
(``vgg(..., conv="loop")``) is timed too (``loop_step_ms``, ``speedup``).

Prints one JSON line per case. Not a test: the numbers depend on the machine and its
load (``step_ms_min`` is the least disturbed step). Usage::

    python benchmarks/cnn_step.py [--repeats 15] [--loop-repeats 3] [--no-loop]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from coursekit import optimize
from coursekit.nn.analysis import step_flops
from coursekit.nn.model import vgg

CONFIG = [16, 16, "M", 32, 32, "M"]
BATCH = 64


GEMM_N = 1024


def make_gemm(n=GEMM_N):
    """A closure running one float32 ``n x n x n`` matmul (2 n^3 FLOPs)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)

    def gemm():
        np.matmul(a, b, out=c)

    gemm()  # warm-up (thread pool start, page faults)
    return gemm


def make_step(hw, conv="fast"):
    """A closure running one training step (forward, backward, Adam) and its FLOPs."""
    model = vgg(CONFIG, input_shape=(1, hw, hw), n_classes=10, seed=0, dtype=np.float32,
                conv=conv)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, hw, hw), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    rule = optimize.get_rule("adam")
    states = {k: rule.init(v) for k, v in model.params.items()}

    def step():
        _, grads = model.loss(x, y)
        for k in model.params:
            model.params[k] = rule.update(model.params[k], grads[k], 1e-3, states[k])

    return step, step_flops(model, BATCH)


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(hw, repeats, gemm, warmup=2):
    """Median step time and median GEMM time, interleaved so both see the same load.

    The machine may be shared: alternating one GEMM and one step per repeat makes the
    ratio robust to load that changes during the run.
    """
    step, flops = make_step(hw)
    for _ in range(warmup):
        step()
    steps, gemms = [], []
    for _ in range(max(repeats, 5)):
        gemms.append(timed(gemm))
        steps.append(timed(step))
    return np.array(steps), np.array(gemms), flops


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15,
                   help="timed steps (and interleaved GEMMs, at least 5) per case")
    p.add_argument("--loop-repeats", type=int, default=3, help="timed loop-version steps")
    p.add_argument("--no-loop", action="store_true", help="skip the loop version")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    blas = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    for threads in args.threads:
        with threadpool_limits(threads):
            gemm = make_gemm()
            for hw in (28, 8):
                steps, gemms, flops = measure(hw, args.repeats, gemm)
                med = float(np.median(steps))
                gemm_rate = 2 * GEMM_N**3 / float(np.median(gemms)) / 1e9
                rate = flops / med / 1e9
                row = {"input": f"1x{hw}x{hw}", "threads": threads, "batch": BATCH,
                       "step_ms": round(med * 1e3, 3),
                       "step_ms_min": round(float(steps.min()) * 1e3, 3),
                       "gflops": round(rate, 2), "gemm_gflops": round(gemm_rate, 2),
                       "gemm_efficiency": round(rate / gemm_rate, 3),
                       "step_mflop": round(flops / 1e6, 2), "repeats": len(steps),
                       "blas": ", ".join(blas),
                       # Other processes' load: the numbers are only as quiet as the machine.
                       "loadavg_1min": round(os.getloadavg()[0], 2)}
                if hw == 8 and not args.no_loop:
                    loop_step, _ = make_step(hw, conv="loop")
                    lmed = float(np.median([timed(loop_step)
                                            for _ in range(args.loop_repeats)]))
                    row["loop_step_ms"] = round(lmed * 1e3, 1)
                    row["speedup"] = round(lmed / med, 1)
                print(json.dumps(row), flush=True)

if __name__ == "__main__":
    main()
