"""Hidden tests of offloading, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here
(``coursekit.distributed.offload`` for Parts 1-2, ``coursekit.distributed.accuracy`` for
Part 3: the functions chapter 9 shows and runs).
"""

import math

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_number
from coursekit.distributed.accuracy import time_to_target
from coursekit.distributed.offload import offload_pays
from coursekit.distributed.offload import optimal_fraction as ref_fraction
from coursekit.distributed.offload import step_time

TESTS = HiddenTests()

# The course's Part 1, put in place of the student's while Part 2 is tested
# (autograder.hidden.Call's ``references``): a mistake is charged to its own part only. It is
# coursekit's optimal_fraction without its argument checks (the kernel has no coursekit); the
# cases of Part 1 hold it to coursekit's own function.
REFERENCES = {"optimal_fraction": '''
def optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                     result_bytes=0.0, latency=0.0, param_bytes=0.0, data="streamed"):
    if data not in ("streamed", "resident"):
        raise ValueError(f"data must be 'streamed' or 'resident', got {data!r}")
    a = work / local_rate
    b = (data_bytes / link_rate if data == "streamed" else 0.0) + work / remote_rate
    c = 2 * latency + (param_bytes + result_bytes) / link_rate
    return 1.0 if c >= a else (b + c) / (a + b)
'''}


def random_costs(rng, trial):
    """Costs of one offloading case, drawn over many decades; some where offloading loses."""
    costs = dict(work=float(10 ** rng.uniform(6, 12)),
                 local_rate=float(10 ** rng.uniform(8, 11)),
                 remote_rate=float(10 ** rng.uniform(8, 12)),
                 link_rate=float(10 ** rng.uniform(5, 10)),
                 data_bytes=float(10 ** rng.uniform(2, 8)) * (trial % 3 > 0),
                 result_bytes=float(10 ** rng.uniform(2, 7)) * (trial % 4 > 0),
                 latency=float(10 ** rng.uniform(-6, -1)) * (trial % 5 > 0),
                 param_bytes=float(10 ** rng.uniform(2, 7)) * (trial % 6 > 0),
                 data=("streamed", "resident")[trial % 2])
    a = costs["work"] / costs["local_rate"]
    if trial % 4 == 1:
        # The parameters alone outweigh computing alone: lambda* = 1 from the download term.
        costs["param_bytes"] = a * costs["link_rate"] * float(rng.uniform(1.1, 3.0))
    elif trial % 4 == 2:
        # A cheap link and fast helper, so a large share goes: lambda* far from 1.
        costs["latency"] = a * float(rng.uniform(0.0, 0.05))
        costs["param_bytes"] = costs["result_bytes"] = a * costs["link_rate"] * 0.01
    return costs


def describe(costs):
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v!r}"
                     for k, v in costs.items())


@TESTS.cell("test_optimal_fraction", seed=30701)
def optimal_fraction_cases(rng):
    """Against coursekit's formula, and no fraction on a grid gives a shorter step."""
    grid = np.linspace(0.0, 1.0, 2001)
    for trial in range(16):
        costs = random_costs(rng, trial)
        best = step_time(grid, **costs).min()
        what = f"optimal_fraction (random test {trial}: {describe(costs)})"

        def check(got, what=what, costs=costs, best=best):
            check_number(what, got.value, ref_fraction(**costs), rtol=1e-9)
            # The law: no fraction on a grid gives a shorter step.
            if step_time(float(got.value), **costs) > best * (1 + 1e-9):
                raise AssertionError(f"{what}: a fraction on a grid gives a shorter step")
        yield Case(what, Call("optimal_fraction(**costs)", costs=costs), check)
    # A wrong place for the data is the caller's mistake: a ValueError that names `data`.
    for trial, data in enumerate(["local", "Streamed", "resident "]):
        costs = dict(random_costs(rng, trial), data=data)
        what = f"optimal_fraction(..., data={data!r})"

        def check_raises(got, what=what):
            kind, message = got.value
            if kind != "ValueError" or "data" not in message:
                raise AssertionError(f"{what} should raise a ValueError that names the argument "
                                     f"data; it {'returned' if kind is None else 'raised'} "
                                     f"{message if kind is None else kind}")
        yield Case(what, Call("raised", costs=costs, setup=(
            "try:\n"
            "    raised = (None, repr(optimal_fraction(**costs)))\n"
            "except Exception as exc:\n"
            "    raised = (type(exc).__name__, str(exc))\n")), check_raises)


def check_bool(what, got, expected):
    if not isinstance(got, bool):
        raise AssertionError(f"{what} returned a {type(got).__name__}; expected True or False")
    if got != expected:
        raise AssertionError(f"{what} is wrong: it returned {got}; expected {expected}")


def verdict_case(what, costs):
    """Part 2 with the course's Part 1 in the student's notebook, judged against coursekit."""
    lam = ref_fraction(**costs)
    t = step_time(lam, **costs)
    a = costs["work"] / costs["local_rate"]
    expected = (offload_pays(**costs), t, a / t)

    def check(got, what=what, expected=expected):
        result = got.value
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            raise AssertionError(f"{what} must return a tuple (pays, step_time, speedup)")
        check_bool(f"pays of {what}", result[0], expected[0])
        check_number(f"step_time of {what}", result[1], expected[1], rtol=1e-9)
        check_number(f"speedup of {what}", result[2], expected[2], rtol=1e-9)
    return Case(what, Call("offload_verdict(**costs)", costs=costs, references=REFERENCES),
                check)


@TESTS.cell("test_offload_verdict", seed=30702)
def offload_verdict_cases(rng):
    for trial in range(14):
        costs = random_costs(rng, trial)
        yield verdict_case(f"offload_verdict (random test {trial}: {describe(costs)})", costs)
    # c = a exactly (powers of two): the best split keeps everything, so it does not pay.
    for trial in range(3):
        scale = 2.0 ** int(rng.integers(-8, 8))
        costs = dict(work=scale * 2.0 ** 30, local_rate=2.0 ** 30,
                     remote_rate=2.0 ** int(rng.integers(28, 36)), link_rate=2.0 ** 20,
                     data_bytes=2.0 ** 18, result_bytes=scale * 2.0 ** 18,
                     latency=scale * 0.25, param_bytes=scale * 2.0 ** 18,
                     data=("streamed", "resident")[trial % 2])
        yield verdict_case(f"offload_verdict (test {trial} with c = a exactly: "
                           f"{describe(costs)})", costs)


def best_case(what, steps_by_batch, **kw):
    """Part 3 against coursekit's time_to_target: the first p of smallest time, or a ValueError
    when no p reaches the target; the caller's list and dict unchanged."""
    model = {k: v for k, v in kw.items() if k not in ("per_worker_batch", "worker_counts")}
    r = time_to_target(steps_by_batch, kw["per_worker_batch"], kw["worker_counts"], **model)
    i = int(np.argmin(r["time"]))  # the first minimum: counts are increasing, ties to small p
    expected = None if math.isinf(r["time"][i]) else (int(r["p"][i]), float(r["time"][i]))
    items = sorted(steps_by_batch.items())
    batches = [m for m, _ in items]
    steps = [s for _, s in items]
    counts = list(kw["worker_counts"])

    def check(got, what=what):
        (raised, result), after = got.value
        if expected is None:
            if raised != "ValueError":
                raise AssertionError(f"{what}: no worker count reaches the target (every S(p b) "
                                     f"is inf), so it should raise a ValueError; it returned "
                                     f"{result}")
            return
        if raised is not None:
            raise AssertionError(f"{what} raised ValueError: {result}; expected a tuple (p, time)")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise AssertionError(f"{what} must return a tuple (p, time)")
        p, time = result
        if isinstance(p, bool) or not isinstance(p, int):
            raise AssertionError(f"p of {what} returned a {type(p).__name__}; expected an int "
                                 "(one of worker_counts)")
        if p != expected[0]:
            raise AssertionError(f"p of {what} is wrong: it returned {p}; expected "
                                 f"{expected[0]} (time to target {expected[1]!r} s)")
        check_number(f"time of {what}", time, expected[1], rtol=1e-9)
        if got.kept["worker_counts"] != counts or [list(x) for x in after] != \
                [list(x) for x in items]:
            raise AssertionError(f"{what} changed its argument worker_counts or steps_by_batch "
                                 "in place")
    # A ValueError is caught in the kernel and sent as data (the all-inf case expects one);
    # any other exception is reported as raised.
    call = Call("answer, sorted(steps_by_batch.items())", setup=(
        "steps_by_batch = dict(zip(batches, steps))\n"
        "try:\n"
        "    answer = (None, best_worker_count(steps_by_batch, per_worker_batch, worker_counts,\n"
        "                                      flops_per_sample, rate, n_bytes, latency,\n"
        "                                      bandwidth))\n"
        "except ValueError as exc:\n"
        "    answer = ('ValueError', str(exc))\n"), keep=["worker_counts"],
        batches=batches, steps=steps, **kw)
    return Case(what, call, check)


def steps_curve(rng, batches, critical):
    """S(m) falling like 1/m up to a critical batch, then flat, with 10 % noise."""
    base = float(rng.uniform(200, 5000)) * batches[0]
    steps = {m: base / min(m, critical) * float(rng.uniform(0.9, 1.1)) for m in batches}
    return steps


@TESTS.cell("test_best_worker_count", seed=30703)
def best_worker_count_cases(rng):
    # Chapter 9's lab: b = 8, p = 1, 2, 4, 8, alpha = 100 us, F = 10 GFLOP/s, the CNN's w, N.
    lab = dict(per_worker_batch=8, worker_counts=[1, 2, 4, 8], flops_per_sample=2.26e6,
               rate=1e10, n_bytes=7.06e4, latency=1e-4)
    for trial, bandwidth in enumerate([1.25e6, 1.25e7, 1.25e9, 1.25e9]):
        S = steps_curve(rng, [8, 16, 32, 64], critical=int(rng.choice([16, 32, 64])))
        if trial == 3:
            S[64] = math.inf  # the largest batch never reaches the target
        yield best_case(f"best_worker_count (chapter 9's lab, bandwidth {bandwidth:.3g} B/s, "
                        f"S = {describe_steps(S)})", S, bandwidth=bandwidth, **lab)
    # Random clusters: any b, candidate counts, costs over decades; some batches never make it.
    for trial in range(10):
        b = int(rng.integers(1, 65))
        counts = sorted(int(q) for q in rng.choice(np.arange(1, 65), size=int(rng.integers(2, 8)),
                                                   replace=False))
        S = steps_curve(rng, [q * b for q in counts], critical=b * int(rng.integers(1, 65)))
        if trial % 3 == 0:
            S[counts[-1] * b] = math.inf
        kw = dict(per_worker_batch=b, worker_counts=counts,
                  flops_per_sample=float(10 ** rng.uniform(4, 8)),
                  rate=float(10 ** rng.uniform(9, 12)), n_bytes=float(10 ** rng.uniform(3, 8)),
                  latency=float(10 ** rng.uniform(-6, -3)),
                  bandwidth=float(10 ** rng.uniform(6, 11)))
        if trial % 5 == 1:
            kw.update(latency=0.0, n_bytes=0.0)  # a free network: the most workers win
            S = {m: 1e5 / m for m in S}
        if trial % 5 == 2:
            kw.update(latency=1.0)  # a very slow network: the fewest workers win
        yield best_case(f"best_worker_count (random test {trial}: b={b}, p in {counts}, "
                        f"S = {describe_steps(S)}, {describe_costs(kw)})", S, **kw)
    # A tie on a free network: S(2b) = S(4b), so p = 2 and p = 4 take the same time.
    b = int(rng.integers(1, 17))
    S = {b: 300.0, 2 * b: 120.0, 4 * b: 120.0, 8 * b: 500.0}
    kw = dict(per_worker_batch=b, worker_counts=[1, 2, 4, 8], flops_per_sample=1e6, rate=1e9,
              n_bytes=0.0, latency=0.0, bandwidth=1e9)
    yield best_case(f"best_worker_count (a tie between p = 2 and p = 4: b={b}, "
                    f"S = {describe_steps(S)}; the smallest p is expected)", S, **kw)
    # No candidate reaches the target.
    S = {8 * q: math.inf for q in (1, 2, 4)}
    yield best_case(f"best_worker_count (S = {describe_steps(S)}: no count reaches the target)",
                    S, **dict(lab, worker_counts=[1, 2, 4], bandwidth=1.25e9))


def describe_steps(S):
    return "{" + ", ".join(f"{m}: {s:.4g}" for m, s in sorted(S.items())) + "}"


def describe_costs(kw):
    return ", ".join(f"{k}={v:.3g}" for k, v in kw.items()
                     if k not in ("per_worker_batch", "worker_counts"))
