"""coursekit.nn: a small VGG-style convolutional network in NumPy alone.

- :mod:`coursekit.nn.layers`    forward/backward pairs (conv, max-pool, ReLU, linear, softmax loss)
- :mod:`coursekit.nn.conv_fast` the im2col/GEMM convolution and its reusable buffers
- :mod:`coursekit.nn.model`     the ``vgg(...)`` builder
- :mod:`coursekit.nn.analysis`  feature maps, FLOPs per layer, parameter counts, conv speed
- :mod:`coursekit.nn.two_layer` the two-layer network of chapter 6 and its training loop
- :mod:`coursekit.nn.train`     mini-batch training with the update rules of coursekit.optimize
                                (``python -m coursekit.nn.train --epochs 15 --rule adam``)
"""

from coursekit.nn.layers import (
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    linear_backward,
    linear_forward,
    maxpool_backward,
    maxpool_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
)
from coursekit.nn.model import VGG, vgg

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_forward_naive",
    "conv2d_backward_naive",
    "maxpool_forward",
    "maxpool_backward",
    "relu_forward",
    "relu_backward",
    "linear_forward",
    "linear_backward",
    "softmax_cross_entropy",
    "VGG",
    "vgg",
]
