"""The speed-up table of real mpiexec runs: its arithmetic and its cost model."""

import numpy as np
import pytest

from coursekit.distributed import cost, measure


@pytest.mark.slow
def test_scaling_table_predicts_from_the_one_process_rate_and_the_pingpong():
    rows = measure.scaling_table((1, 2, 3), global_batch=12, steps=3, n_samples=96, cores=2)
    assert [r["processes"] for r in rows] == [1, 2, 3]
    assert [r["oversubscribed"] for r in rows] == [False, False, True]
    one = rows[0]
    assert one["speedup"] == 1.0 and one["predicted_comm_ms"] == 0.0
    for r in rows:
        assert r["n_bytes"] == 4 * 17658  # the CNN's parameters in float32
        p = r["processes"]
        # The model: the one-process compute time shared by p, plus a ring all-reduce priced
        # with the fitted latency and bandwidth.
        comm = cost.allreduce_time(r["n_bytes"], p, r["latency"], r["bandwidth"], "ring")
        np.testing.assert_allclose(r["predicted_comm_ms"], 1e3 * comm, rtol=1e-12)
        np.testing.assert_allclose(r["predicted_compute_ms"], one["compute_ms"] / p, rtol=1e-12)
        np.testing.assert_allclose(
            r["predicted_step_ms"], r["predicted_compute_ms"] + r["predicted_comm_ms"], rtol=1e-12
        )
        np.testing.assert_allclose(
            r["model_error"], r["predicted_step_ms"] / r["step_ms"] - 1, rtol=1e-12
        )
        np.testing.assert_allclose(r["speedup"], one["step_ms"] / r["step_ms"], rtol=1e-12)
        assert r["step_ms"] > 0 and r["compute_ms"] > 0 and r["comm_ms"] >= 0
    assert rows[1]["bandwidth"] > 0 and rows[1]["latency"] >= 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(procs=(2, 4)), "procs must contain 1"),
        (dict(procs=(1,)), "procs must contain 1 and a count >= 2"),
        (dict(procs=(1, 3), global_batch=8), "divide global_batch"),
        (dict(variant="tree"), "variant must be one of"),
    ],
)
def test_scaling_table_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure.scaling_table(**kwargs)


def test_launch_reports_a_failing_run():
    with pytest.raises(RuntimeError, match="mpiexec -n 1 failed"):
        measure.launch(1, ["--variant", "nonsense"])
