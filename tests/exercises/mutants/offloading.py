"""Realistic wrong answers to offloading (see tests/exercises/mutation.py), and right ones."""

from mutation import Mutant, edit

F, V, W = "optimal_fraction", "offload_verdict", "best_worker_count"

FRACTION = """
def optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                     result_bytes=0.0, latency=0.0, param_bytes=0.0, data="streamed"):
    if data not in ("streamed", "resident"):
        raise ValueError(f"data must be 'streamed' or 'resident', got {data!r}")
    a = work / local_rate
    b = work / remote_rate
    if data == "streamed":
        b += data_bytes / link_rate
    c = 2 * latency + (param_bytes + result_bytes) / link_rate
    if c >= a:
        return 1.0
    return (b + c) / (a + b)
"""

VERDICT = """
def offload_verdict(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                    result_bytes=0.0, latency=0.0, param_bytes=0.0, data="streamed"):
    lam = optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes, result_bytes,
                           latency, param_bytes, data)
    a = work / local_rate
    b = work / remote_rate + (data_bytes / link_rate if data == "streamed" else 0.0)
    c = 2 * latency + (param_bytes + result_bytes) / link_rate
    remote = c + (1 - lam) * b if lam < 1 else 0.0
    t = max(lam * a, remote)
    return bool(c < a), t, a / t
"""

BEST = """
def best_worker_count(steps_by_batch, per_worker_batch, worker_counts, flops_per_sample,
                      rate, n_bytes, latency, bandwidth):
    best_p, best_time = None, np.inf
    for p in worker_counts:
        ring = 2 * (p - 1) * latency + 2 * (p - 1) / p * n_bytes / bandwidth
        step = per_worker_batch * flops_per_sample / rate + ring
        time = steps_by_batch[p * per_worker_batch] * step
        if time < best_time:
            best_p, best_time = p, time
    if best_p is None:
        raise ValueError("no worker count reaches the target")
    return best_p, best_time
"""


MUTANTS = [
    # ---------------------------------------------------------------- Part 1: lambda*
    Mutant(
        "fraction: forgets the parameter download",
        F,
        edit(FRACTION, "(param_bytes + result_bytes) / link_rate", "result_bytes / link_rate"),
    ),
    Mutant("fraction: latency counted once", F, edit(FRACTION, "c = 2 * latency", "c = latency")),
    Mutant(
        "fraction: lambda not capped at 1",
        F,
        edit(FRACTION, "    if c >= a:\n        return 1.0\n", ""),
    ),
    Mutant(
        "fraction: (a + c) / (a + b)", F, edit(FRACTION, "(b + c) / (a + b)", "(a + c) / (a + b)")
    ),
    Mutant(
        "fraction: returns the offloaded share 1 - lambda*",
        F,
        edit(FRACTION, "return (b + c) / (a + b)", "return 1 - (b + c) / (a + b)"),
    ),
    Mutant(
        "fraction: ignores data (always streamed)",
        F,
        edit(
            FRACTION,
            '    if data == "streamed":\n        b += data_bytes / link_rate\n',
            "    b += data_bytes / link_rate\n",
        ),
    ),
    Mutant(
        "fraction: resident drops the helper's compute, not the transfer",
        F,
        edit(
            FRACTION,
            '    b = work / remote_rate\n    if data == "streamed":\n'
            "        b += data_bytes / link_rate\n",
            '    b = data_bytes / link_rate\n    if data == "streamed":\n'
            "        b += work / remote_rate\n",
        ),
    ),
    Mutant(
        "fraction: accepts any data mode",
        F,
        edit(
            FRACTION,
            '    if data not in ("streamed", "resident"):\n'
            "        raise ValueError(f\"data must be 'streamed' or 'resident', got "
            '{data!r}")\n',
            "",
        ),
    ),
    Mutant(
        "fraction: parameters counted per offloaded sample",
        F,
        edit(
            FRACTION,
            "b += data_bytes / link_rate",
            "b += (data_bytes + param_bytes) / link_rate",
            "(param_bytes + result_bytes) / link_rate",
            "result_bytes / link_rate",
        ),
    ),
    Mutant(
        "fraction: the helper at the local rate",
        F,
        edit(FRACTION, "b = work / remote_rate", "b = work / local_rate"),
    ),
    Mutant(
        "fraction: integer division",
        F,
        edit(FRACTION, "a = work / local_rate", "a = work // local_rate"),
    ),
    Mutant(
        "fraction: a percentage",
        F,
        edit(
            FRACTION,
            "        return 1.0\n    return (b + c) / (a + b)",
            "        return 100.0\n    return 100 * (b + c) / (a + b)",
        ),
    ),
    # ---------------------------------------------------------------- Part 2: the verdict
    Mutant("verdict: pays when c <= a", V, edit(VERDICT, "bool(c < a)", "bool(c <= a)")),
    Mutant(
        "verdict: forgets T_s(1) = 0",
        V,
        edit(VERDICT, "c + (1 - lam) * b if lam < 1 else 0.0", "c + (1 - lam) * b"),
    ),
    Mutant(
        "verdict: the closed form T* = a (b + c) / (a + b) always",
        V,
        edit(VERDICT, "    t = max(lam * a, remote)\n", "    t = a * (b + c) / (a + b)\n"),
    ),
    Mutant("verdict: speed-up upside down", V, edit(VERDICT, "a / t\n", "t / a\n")),
    Mutant(
        "verdict: the remote path only", V, edit(VERDICT, "t = max(lam * a, remote)", "t = remote")
    ),
    Mutant(
        "verdict: pays decided without the parameter download",
        V,
        edit(
            VERDICT, "return bool(c < a)", "return bool(2 * latency + result_bytes / link_rate < a)"
        ),
    ),
    Mutant(
        "verdict: data always streamed",
        V,
        edit(VERDICT, ' if data == "streamed" else 0.0', " if True else 0.0"),
    ),
    # ---------------------------------------------------------------- Part 3: best p
    Mutant(
        "workers: ring latency counted once",
        W,
        edit(BEST, "ring = 2 * (p - 1) * latency", "ring = (p - 1) * latency"),
    ),
    Mutant(
        "workers: ring without 1/p",
        W,
        edit(BEST, "2 * (p - 1) / p * n_bytes", "2 * (p - 1) * n_bytes"),
    ),
    Mutant(
        "workers: the central node's all-reduce",
        W,
        edit(
            BEST,
            "ring = 2 * (p - 1) * latency + 2 * (p - 1) / p * n_bytes / bandwidth",
            "ring = 2 * (p - 1) * (latency + n_bytes / bandwidth)",
        ),
    ),
    Mutant(
        "workers: computes the global batch on each worker",
        W,
        edit(
            BEST,
            "step = per_worker_batch * flops_per_sample",
            "step = p * per_worker_batch * flops_per_sample",
        ),
    ),
    Mutant(
        "workers: ties go to the largest p",
        W,
        edit(BEST, "if time < best_time:", "if time <= best_time:"),
    ),
    Mutant(
        "workers: skips the last candidate",
        W,
        edit(BEST, "for p in worker_counts:", "for p in worker_counts[:-1]:"),
    ),
    Mutant(
        "workers: skips the first candidate",
        W,
        edit(BEST, "for p in worker_counts:", "for p in worker_counts[1:]:"),
    ),
    Mutant(
        "workers: returns the step time, not the time to target",
        W,
        edit(
            BEST,
            "            best_p, best_time = p, time\n",
            "            best_p, best_time = p, time\n            best_step = step\n",
            "return best_p, best_time",
            "return best_p, best_step",
        ),
    ),
    Mutant(
        "workers: no error when the target is never reached",
        W,
        """
def best_worker_count(steps_by_batch, per_worker_batch, worker_counts, flops_per_sample,
                      rate, n_bytes, latency, bandwidth):
    times = []
    for p in worker_counts:
        ring = 2 * (p - 1) * latency + 2 * (p - 1) / p * n_bytes / bandwidth
        step = per_worker_batch * flops_per_sample / rate + ring
        times.append(steps_by_batch[p * per_worker_batch] * step)
    i = int(np.argmin(times))
    return worker_counts[i], times[i]
""",
    ),
    Mutant(
        "workers: returns the index of the best count",
        W,
        """
def best_worker_count(steps_by_batch, per_worker_batch, worker_counts, flops_per_sample,
                      rate, n_bytes, latency, bandwidth):
    p = np.array(worker_counts)
    step = per_worker_batch * flops_per_sample / rate + 2 * (p - 1) * latency \\
        + 2 * (p - 1) / p * n_bytes / bandwidth
    times = np.array([steps_by_batch[q * per_worker_batch] for q in worker_counts]) * step
    if np.isinf(times.min()):
        raise ValueError("no worker count reaches the target")
    return int(np.argmin(times)), float(times.min())
""",
    ),
    Mutant(
        "workers: drops unreachable counts from the caller's list",
        W,
        edit(
            BEST,
            "    best_p, best_time = None, np.inf\n",
            "    best_p, best_time = None, np.inf\n"
            "    worker_counts[:] = [p for p in worker_counts\n"
            "                        if np.isfinite(steps_by_batch[p * per_worker_batch])]\n",
        ),
    ),
    Mutant(
        "workers: integer division in the compute time",
        W,
        edit(
            BEST,
            "per_worker_batch * flops_per_sample / rate",
            "per_worker_batch * flops_per_sample // rate",
        ),
    ),
    Mutant(
        "workers: ignores the bandwidth",
        W,
        edit(BEST, " + 2 * (p - 1) / p * n_bytes / bandwidth", ""),
    ),
    Mutant(
        "workers: every tied p, as an array",
        W,
        """
def best_worker_count(steps_by_batch, per_worker_batch, worker_counts, flops_per_sample,
                      rate, n_bytes, latency, bandwidth):
    p = np.asarray(worker_counts)
    step = per_worker_batch * flops_per_sample / rate + 2 * (p - 1) * latency \\
        + 2 * (p - 1) / p * n_bytes / bandwidth
    times = np.array([steps_by_batch[q * per_worker_batch] for q in worker_counts]) * step
    if np.isinf(times.min()):
        raise ValueError("no worker count reaches the target")
    return p[times == times.min()], times.min()
""",
    ),
    Mutant(
        "workers: p as a float",
        W,
        edit(BEST, "best_p, best_time = p, time", "best_p, best_time = float(p), time"),
    ),
    Mutant(
        "workers: steps looked up at p, not at m = p b",
        W,
        edit(BEST, "steps_by_batch[p * per_worker_batch]", "steps_by_batch[p]"),
    ),
]

CORRECT = [
    Mutant(
        "fraction: min(1, ...) with np.clip",
        F,
        """
def optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                     result_bytes=0.0, latency=0.0, param_bytes=0.0, data="streamed"):
    if data == "streamed":
        b = data_bytes / link_rate + work / remote_rate
    elif data == "resident":
        b = work / remote_rate
    else:
        raise ValueError("data: expected 'streamed' or 'resident'")
    a = work / local_rate
    c = 2 * latency + param_bytes / link_rate + result_bytes / link_rate
    return float(np.clip((b + c) / (a + b), 0.0, 1.0))
""",
    ),
    Mutant(
        "verdict: T* = lambda* a, pays from lambda* < 1",
        V,
        """
def offload_verdict(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                    result_bytes=0.0, latency=0.0, param_bytes=0.0, data="streamed"):
    lam = optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=data_bytes,
                           result_bytes=result_bytes, latency=latency,
                           param_bytes=param_bytes, data=data)
    # At lambda* the two paths finish together (or the helper gets nothing).
    t = lam * work / local_rate
    return lam < 1, t, 1 / lam
""",
    ),
    Mutant(
        "workers: vectorised with np.argmin",
        W,
        """
def best_worker_count(steps_by_batch, per_worker_batch, worker_counts, flops_per_sample,
                      rate, n_bytes, latency, bandwidth):
    p = np.asarray(worker_counts)
    step = per_worker_batch * flops_per_sample / rate + 2 * (p - 1) * latency \\
        + 2 * (1 - 1 / p) * n_bytes / bandwidth
    steps = np.array([steps_by_batch[q * per_worker_batch] for q in worker_counts])
    times = steps * step
    i = int(np.argmin(times))
    if not np.isfinite(times[i]):
        raise ValueError("no p reaches the target")
    return p[i], times[i]
""",
    ),
]
