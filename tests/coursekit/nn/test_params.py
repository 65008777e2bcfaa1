"""ParamLayout: the parameter dict as one vector and back, the layout training and FlatCNN share."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.distributed.cnn import digits_cnn
from coursekit.nn.params import ParamLayout

shapes_st = st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(shapes=shapes_st, seed=st.integers(0, 2**16))
def test_round_trip_and_the_vectors_order(shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = {f"p{i}": rng.standard_normal(tuple(s)) for i, s in enumerate(shapes)}
    layout = ParamLayout(arrays)
    x = layout.flatten(arrays)
    # The arrays end to end, in the dict's order, each in C order: an independent concatenation.
    expected = np.concatenate([np.ravel(a) for a in arrays.values()])
    assert x.shape == (layout.dim,) and np.array_equal(x, expected)
    back = layout.unflatten(x)
    assert list(back) == list(arrays)
    for k, a in arrays.items():
        assert back[k].shape == np.shape(a) and np.array_equal(back[k], a)
        assert np.shares_memory(back[k], x)  # views, not copies
    # Another dict's key order does not change the vector.
    assert np.array_equal(layout.flatten(dict(reversed(list(arrays.items())))), x)


def test_dtype_is_the_layouts():
    layout = ParamLayout({"w": np.zeros((2, 3), np.float32)})
    assert layout.flatten({"w": np.ones((2, 3))}).dtype == np.float32
    assert layout.unflatten(np.arange(6.0))["w"].dtype == np.float32
    assert ParamLayout({"w": np.zeros(2)}, dtype=np.float32).dtype == np.float32


def test_bad_input_names_what_was_expected():
    layout = ParamLayout({"w": np.zeros((2, 3)), "b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"x must have shape \(8,\), got \(7,\)"):
        layout.unflatten(np.zeros(7))
    with pytest.raises(KeyError, match="no array named 'b'"):
        layout.flatten({"w": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="at least one parameter array"):
        ParamLayout({})


def test_flat_cnn_lays_out_its_parameters_as_training_does():
    f, _ = digits_cnn(np.float32, seed=0, n_train=16)
    layout = ParamLayout(f.model.params)
    assert f.layout.keys == layout.keys and f.dim == layout.dim == 17658
    assert np.array_equal(f.x0, layout.flatten(f.model.params))
