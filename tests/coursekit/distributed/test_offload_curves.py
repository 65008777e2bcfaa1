"""coursekit.distributed.offload.offload_curves: the two paths over a grid of lambda."""

import math

import numpy as np
import pytest

from coursekit.distributed import offload
from coursekit.distributed.offload import offload_curves

OFF = dict(
    work=2e9, local_rate=1e10, remote_rate=4e10, data_bytes=4e6, result_bytes=4e5, latency=5e-3
)


@pytest.mark.parametrize("link_rate", [1e5, 1e6, 5e6, 2e7, 1e8, math.inf])
def test_offload_curves_balance_at_the_optimum(link_rate):
    c = offload_curves(link_rate, **OFF)
    np.testing.assert_allclose(c["step"], np.maximum(c["local"], c["remote"]), rtol=1e-12)
    a = OFF["work"] / OFF["local_rate"]
    assert c["local_time"] == pytest.approx(a)
    # No grid point beats the closed form, and the grid gets within one cell of it.
    assert c["t_star"] <= c["step"].min() * (1 + 1e-12)
    slope = a + np.abs(np.diff(c["remote"][:-1])).max() / (c["lam"][1] - c["lam"][0])
    assert c["step"].min() - c["t_star"] <= slope * (c["lam"][1] - c["lam"][0])
    assert c["fixed_cost"] == pytest.approx(2 * OFF["latency"] + OFF["result_bytes"] / link_rate)
    if c["pays"]:
        # Both paths finish together at the optimum.
        remote_star = offload.step_time(
            c["lam_star"], **{**OFF, "link_rate": link_rate, "local_rate": 1e300}
        )
        assert c["lam_star"] * a == pytest.approx(remote_star, rel=1e-9)
        assert c["t_star"] < a
    else:
        assert c["lam_star"] == 1.0 and c["t_star"] == pytest.approx(a)


def test_faster_link_offloads_more():
    lams = [offload_curves(r, **OFF)["lam_star"] for r in np.geomspace(1e5, 1e9, 12)]
    assert all(x >= y for x, y in zip(lams, lams[1:], strict=False))
    assert lams[0] == 1.0 and lams[-1] < 0.5


def test_offload_curves_bad_grid():
    with pytest.raises(ValueError, match="n must be"):
        offload_curves(1e6, **OFF, n=1)
