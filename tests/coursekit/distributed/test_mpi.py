"""A real MPI run (mpiexec with 2 and 3 processes) gives the simulation's parameters."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coursekit.data import make_regression
from coursekit.distributed.simulate import simulate
from coursekit.objectives import LeastSquares

MPIEXEC = Path(sys.executable).parent / "mpiexec"
ARGS = dict(n_samples=70, n_features=5, steps=25, lr=0.1, batch_size=6, seed=3, data_seed=1)

# No skip when mpiexec is missing: the mpich wheel is pinned in requirements.txt, so a missing
# mpiexec is a broken install that must fail, not a test that silently did not run.
pytestmark = pytest.mark.slow


def _run(n_proc):
    cmd = [str(MPIEXEC), "-n", str(n_proc), sys.executable, "-m", "coursekit.distributed.mpi",
           "--variant", "all"]  # fmt: skip
    for key, value in ARGS.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("n_proc", [2, 3])
def test_mpi_run_matches_the_simulation(n_proc):
    summaries = _run(n_proc)
    assert [s["variant"] for s in summaries] == ["gather", "allreduce", "ring"]
    X, y, _ = make_regression(ARGS["n_samples"], ARGS["n_features"], noise=0.1,
                              seed=ARGS["data_seed"])  # fmt: skip
    h = simulate(LeastSquares(X, y), np.zeros(ARGS["n_features"]), n_proc, "sync", ARGS["steps"],
                 lr=ARGS["lr"], batch_size=ARGS["batch_size"], seed=ARGS["seed"])  # fmt: skip
    for s in summaries:
        assert s["processes"] == n_proc
        np.testing.assert_allclose(s["x"], h.x, rtol=0, atol=1e-10)
        np.testing.assert_allclose(s["losses"], h.losses, rtol=0, atol=1e-10)
        assert s["compute_time"] > 0 and s["comm_time"] > 0 and s["step_time"] > 0


# ---------------------------------------------------------------- chapter 7's CNN under MPI
CNN = dict(n_samples=96, steps=6, lr=0.1, seed=2, init_seed=1)


def _run_cnn(n_proc, batch_size, dtype):
    cmd = [str(MPIEXEC), "-n", str(n_proc), sys.executable, "-m", "coursekit.distributed.mpi",
           "--model", "cnn", "--variant", "all", "--dtype", dtype,
           "--batch-size", str(batch_size)]  # fmt: skip
    for key, value in CNN.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _one_process_cnn(global_batch, dtype, steps=CNN["steps"]):
    """The reference, in this process: one worker, batch p*b, the same batch order and weights."""
    from coursekit.distributed.cnn import digits_cnn

    f, _ = digits_cnn(dtype, seed=CNN["init_seed"], n_train=CNN["n_samples"])
    return simulate(f, f.x0, 1, "sync", steps, lr=CNN["lr"], batch_size=global_batch,
                    seed=CNN["seed"], timeline=False)  # fmt: skip


@pytest.mark.parametrize("n_proc", [1, 2, 3])
def test_cnn_on_p_processes_is_one_process_with_p_times_the_batch(n_proc):
    """float64: P ranks with shards of b give the iterates of one process with batch P*b."""
    b = 4
    summaries = _run_cnn(n_proc, b, "float64")
    ref = _one_process_cnn(n_proc * b, "float64")
    assert [s["variant"] for s in summaries] == ["gather", "allreduce", "ring"]
    for s in summaries:
        assert (s["model"], s["processes"], s["dtype"]) == ("cnn", n_proc, "float64")
        assert len(s["x"]) == ref.x.size == 17658 and s["n_bytes"] == 8 * 17658
        # The run moved: the parameters after T steps are far from the start ...
        assert np.abs(np.array(s["x"]) - ref.params[0]).max() > 1e-3
        # ... and equal the one-process run's up to rounding.
        np.testing.assert_allclose(s["x"], ref.x, rtol=0, atol=1e-10)
        np.testing.assert_allclose(s["losses"], ref.losses, rtol=0, atol=1e-10)


def test_cnn_float32_messages_are_float32():
    summaries = _run_cnn(2, 4, "float32")
    ref = _one_process_cnn(8, "float32")
    for s in summaries:
        assert s["dtype"] == "float32" and s["n_bytes"] == 4 * 17658
        # float32 rounding, summed in another order: close, not equal.
        np.testing.assert_allclose(s["x"], ref.x, rtol=0, atol=1e-4)


def test_lsq_refuses_float32():
    cmd = [sys.executable, "-m", "coursekit.distributed.mpi", "--dtype", "float32"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2 and "--model cnn" in out.stderr


def test_partial_offloading_on_three_processes_keeps_the_iterates_of_one():
    """Rank 0 keeps lambda of each batch, two helpers share the rest, the three values of
    lambda taking turns: the iterates of one process over all 3 * steps steps."""
    cmd = [str(MPIEXEC), "-n", "3", sys.executable, "-m", "coursekit.distributed.mpi",
           "--model", "cnn", "--offload", "0", "0.5", "1", "--batch-size", "10"]  # fmt: skip
    for key, value in CNN.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = [json.loads(line) for line in out.stdout.splitlines()]
    ref = _one_process_cnn(10, "float64", steps=3 * CNN["steps"])
    assert [r["keep"] for r in runs] == [0.0, 0.5, 1.0]
    assert [r["steps"] for r in runs] == [CNN["steps"]] * 3
    assert [r["counts"] for r in runs] == [[0, 5, 5], [5, 3, 2], [10, 0, 0]]
    for r in runs:
        np.testing.assert_allclose(r["x"], ref.x, rtol=0, atol=1e-10)
        assert r["step_time_median"] > 0
    # Who computed: nobody but rank 0 at lambda = 1, rank 0 not at all at lambda = 0.
    assert runs[0]["local_time_median"] < runs[2]["local_time_median"]
    assert runs[2]["helper_time_median"] < runs[0]["helper_time_median"]


def test_values_take_turns_one_step_each_per_round():
    from coursekit.distributed.mpi import take_turns

    rounds, k = 6, 4
    turns = list(take_turns(rounds, k))
    assert [rnd for rnd, _ in turns] == sorted(np.repeat(range(rounds), k))
    for rnd in range(rounds):  # every value once per round, round r starting at value r mod K
        values = [i for r, i in turns if r == rnd]
        assert sorted(values) == list(range(k)) and values[0] == rnd % k
    # No value always runs right after the same other one.
    after = {
        i: {turns[t - 1][1] for t in range(1, len(turns)) if turns[t][1] == i} for i in range(k)
    }
    assert all(len(previous) > 1 for previous in after.values()), after


@pytest.mark.parametrize(
    ("keeps", "message"),
    [([], "at least one fraction"), ([0.5, 1.2], r"\[0, 1\], got 1.2"), (-0.1, "got -0.1")],
)
def test_offload_fractions_are_checked(keeps, message):
    from coursekit.distributed.mpi import _check_offload

    with pytest.raises(ValueError, match=message):
        _check_offload(3, keeps)
    with pytest.raises(ValueError, match="at least 2 processes"):
        _check_offload(1, [0.5])
