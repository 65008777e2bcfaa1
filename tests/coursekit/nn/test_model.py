"""The VGG builder and the analysis helpers: full-model gradients against central
differences, fast model against the layer-by-layer composition and the loop model, He
initialisation, seeds, analytical FLOPs and parameter counts, feature maps."""

import numpy as np
import pytest

from coursekit.gradcheck import numerical_grad
from coursekit.nn import analysis, layers
from coursekit.nn.model import vgg


def tiny(conv="fast", seed=0, config=(3, "M", 4), shape=(2, 6, 5), dtype=np.float64):
    return vgg(list(config), input_shape=shape, n_classes=3, seed=seed, dtype=dtype, conv=conv)


def scaled_error(a, b):
    """max |a - b| / max |b|: elementwise relative errors blow up on entries near 0, where
    central differences only have absolute accuracy (about 1e-10 here)."""
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def batch(shape=(2, 6, 5), n=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)), rng.integers(0, 3, n)


def reference_loss(model, x, y):
    """The network written out with the public layer functions (no fusion, no buffers)."""
    p = model.params
    h = x
    for layer in model.layers:
        if layer.kind == "conv":
            h, _ = layers.conv2d_forward_naive(h, p[layer.name + ".w"], p[layer.name + ".b"], 1, 1)
        elif layer.kind == "relu":
            h, _ = layers.relu_forward(h)
        elif layer.kind == "pool":
            h, _ = layers.maxpool_forward(h, 2, 2)
        else:
            h, _ = layers.linear_forward(h, p["fc.w"], p["fc.b"])
    return layers.softmax_cross_entropy(h, y)[0]


@pytest.mark.parametrize("conv", ["fast", "loop"])
@pytest.mark.parametrize(
    "config, shape", [((3, "M", 4), (2, 6, 5)), ((2, 2, "M"), (1, 4, 4)), (("M", 3), (2, 4, 6))]
)
def test_model_gradient_matches_numerical(conv, config, shape):
    model = tiny(conv, config=config, shape=shape)
    x, y = batch(shape)
    loss, grads = model.loss(x, y)
    assert loss == pytest.approx(reference_loss(model, x, y), rel=1e-12)
    for name, value in model.params.items():

        def f(v, name=name):
            saved = model.params[name]
            model.params[name] = v
            try:
                return model.loss(x, y)[0]
            finally:
                model.params[name] = saved

        num = numerical_grad(f, value.copy())
        assert grads[name].shape == value.shape
        assert scaled_error(grads[name], num) < 1e-7, name


def test_model_input_gradient_matches_numerical():
    model = tiny()
    x, y = batch()
    _, dlogits = layers.softmax_cross_entropy(model.forward(x), y)
    grads, dx = model.backward(dlogits, input_grad=True)
    num = numerical_grad(lambda v: reference_loss(model, v, y), x.copy())
    assert dx.shape == x.shape
    assert scaled_error(dx, num) < 1e-7
    # Results handed out earlier are not overwritten by later passes.
    saved_dx, saved_g = dx.copy(), {k: v.copy() for k, v in grads.items()}
    model.loss(x + 1.0, y)
    model.backward(model.forward(x - 1.0) * 0 + 1.0, input_grad=True)
    assert np.array_equal(dx, saved_dx)
    assert all(np.array_equal(grads[k], saved_g[k]) for k in grads)
    assert model.backward(dlogits) is model.grads


def test_fast_and_loop_models_agree():
    fast, loop = tiny("fast", seed=4), tiny("loop", seed=4)
    x, y = batch(seed=5)
    lf, gf = fast.loss(x, y)
    gf = {k: v.copy() for k, v in gf.items()}
    ll, gl = loop.loss(x, y)
    assert lf == pytest.approx(ll, rel=1e-12)
    for k in gl:
        assert np.allclose(gf[k], gl[k], rtol=1e-10, atol=1e-12), k


def test_default_model_shapes_and_float32():
    model = vgg()
    assert list(model.params) == [
        "conv1.w",
        "conv1.b",
        "conv2.w",
        "conv2.b",
        "conv3.w",
        "conv3.b",
        "conv4.w",
        "conv4.b",
        "fc.w",
        "fc.b",
    ]
    assert model.params["conv1.w"].shape == (16, 1, 3, 3)
    assert model.params["conv3.w"].shape == (32, 16, 3, 3)
    assert model.params["fc.w"].shape == (32 * 2 * 2, 10)
    x = np.random.default_rng(0).random((5, 1, 8, 8))
    logits = model.forward(x)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    _, grads = model.loss(x, np.arange(5))
    assert all(g.dtype == np.float32 and g.shape == model.params[k].shape for k, g in grads.items())
    pred = model.predict(x, batch_size=2)
    assert pred.shape == (5,) and np.array_equal(pred, np.argmax(logits, axis=1))


def test_same_seed_same_weights_and_he_scale():
    a, b, c = vgg(seed=7), vgg(seed=7), vgg(seed=8)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["conv2.w"], c.params["conv2.w"])
    # He initialisation: std sqrt(2 / fan_in), zero biases (a wide layer for statistics).
    big = vgg([64, 64], input_shape=(32, 4, 4), seed=0, dtype=np.float64)
    w = big.params["conv2.w"]
    assert w.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.03)
    assert abs(w.mean()) < 4 * np.sqrt(2 / (64 * 9)) / np.sqrt(w.size)
    assert not np.any(big.params["conv2.b"])


def test_overfits_a_fixed_batch():
    # A network that can memorise 16 images: the loss on them must go to ~0.
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 8, 8))
    y = np.arange(16) % 10
    model = vgg([8, "M", 8, "M"], input_shape=(1, 8, 8), seed=0, dtype=np.float64)
    from coursekit.optimize import get_rule

    rule = get_rule("adam")
    states = {k: rule.init(v) for k, v in model.params.items()}
    first, _ = model.loss(x, y)
    for _ in range(300):
        loss, grads = model.loss(x, y)
        for k in model.params:
            model.params[k] = rule.update(model.params[k], grads[k], 1e-2, states[k])
    assert first > 2.0
    assert loss < 1e-2
    assert np.array_equal(model.predict(x), y)


def test_feature_maps_are_relu_of_conv():
    model = tiny()
    x, _ = batch()
    maps = analysis.feature_maps(model, x)
    assert list(maps) == ["conv1", "conv2"]
    p = model.params
    h, _ = layers.conv2d_forward_naive(x, p["conv1.w"], p["conv1.b"], 1, 1)
    assert np.allclose(maps["conv1"], np.maximum(h, 0), atol=1e-12)
    h, _ = layers.maxpool_forward(np.maximum(h, 0))
    h, _ = layers.conv2d_forward_naive(h, p["conv2.w"], p["conv2.b"], 1, 1)
    assert np.allclose(maps["conv2"], np.maximum(h, 0), atol=1e-12)
    # Copies: a later forward pass does not change them.
    before = maps["conv1"].copy()
    model.forward(x + 1)
    assert np.array_equal(maps["conv1"], before)


def test_flops_and_parameter_count_of_the_default_net():
    model = vgg(input_shape=(1, 28, 28))
    n = 64
    rows = analysis.layer_flops(model, batch_size=n)
    # conv(C -> F) on an H x W output: 2 N H W F C 9 per pass.
    convs = [(1, 16, 28), (16, 16, 28), (16, 32, 14), (32, 32, 14)]
    conv_f = [2 * n * h * h * f * c * 9 for c, f, h in convs]
    fc = 2 * n * 32 * 7 * 7 * 10
    got = {r["name"]: r for r in rows}
    assert [got[f"conv{i + 1}"]["forward"] for i in range(4)] == conv_f
    assert got["fc"]["forward"] == fc and got["fc"]["backward"] == 2 * fc
    # Backward = weight gradient + input gradient, except the first layer (no input grad).
    assert got["conv1"]["backward"] == conv_f[0]
    assert [got[f"conv{i + 1}"]["backward"] for i in range(1, 4)] == [2 * v for v in conv_f[1:]]
    assert got["pool1"]["forward"] == 0 and got["relu1"]["forward"] == 0
    assert analysis.step_flops(model, n) == 3 * (sum(conv_f) + fc) - conv_f[0]
    with_dx = analysis.layer_flops(model, batch_size=n, input_grad=True)
    assert with_dx[0]["backward"] == 2 * conv_f[0]
    count = sum(f * c * 9 + f for c, f, _ in convs) + 32 * 49 * 10 + 10
    assert analysis.param_count(model) == model.num_params() == count
    assert sum(r["params"] for r in rows) == count
    assert "total" in analysis.summary(model)
    with pytest.raises(ValueError, match="batch_size"):
        analysis.layer_flops(model, batch_size=0)


def test_bad_configs_and_inputs():
    with pytest.raises(ValueError, match="config entries"):
        vgg([16, "X"])
    with pytest.raises(ValueError, match="config entries"):
        vgg([0])
    with pytest.raises(ValueError, match="input_shape"):
        vgg(input_shape=(8, 8))
    with pytest.raises(ValueError, match="too small"):
        vgg([4, "M", "M", "M", "M"], input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="n_classes"):
        vgg(n_classes=1)
    with pytest.raises(ValueError, match="dtype"):
        vgg(dtype=np.int32)
    with pytest.raises(ValueError, match="conv must be"):
        vgg(conv="gpu")
    model = vgg()
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 8, 8\), got \(2, 8, 8\)"):
        model.forward(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        model.loss(np.zeros((2, 1, 8, 8)), [1])
    model.forward(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="dout must have"):
        model.backward(np.zeros((3, 10)))
