r"""The fast convolution: im2col + matrix products, cache-sized chunks, reusable buffers.

A convolution is a matrix product once the input patches are laid out as columns.
For one image :math:`x_n` of shape ``(C, H, W)`` and weights :math:`w` of shape
``(F, C, k_h, k_w)``, let :math:`X_n` be the ``(C k_h k_w, H_o W_o)`` patch matrix
("im2col") whose column :math:`(i, j)` is the patch of the padded image under output
pixel :math:`(i, j)`, and :math:`W = w` reshaped to ``(F, C k_h k_w)``. Then

.. math::

    Y_n = W X_n \quad (F \times H_o W_o), \qquad
    \frac{\partial L}{\partial W} = \sum_n \Delta_n X_n^\top, \qquad
    \frac{\partial L}{\partial X_n} = W^\top \Delta_n,

where :math:`\Delta_n = \partial L / \partial Y_n`. :math:`Y_n` is already image
:math:`n` of the NCHW output, so no transpose is needed. The last product is folded
back onto the image ("col2im") by adding the :math:`k_h k_w` shifted slices, a loop of
strided array additions (no ``np.add.at``: within one kernel offset no two output
pixels touch the same input pixel). For stride 1 the backward pass instead computes
:math:`\partial L/\partial x` as the convolution of :math:`\Delta` (padded by
:math:`k - 1 - p`) with the kernels flipped in space and with input and output channels
swapped, which is the same sum written as patches + GEMM (copies are cheaper than
additions, and the GEMM's inner dimension becomes :math:`F k_w` per kernel row instead
of :math:`F`).

Why it is fast in NumPy:

* every product is a BLAS ``sgemm``/``dgemm`` (``np.matmul`` over a stack of images);
* the batch is processed in chunks of a few images whose patch matrix (about
  ``CHUNK_BYTES``) stays in the L2/L3 cache between being built and being multiplied:
  a whole-batch patch matrix (29 MB for 64 x 16 x 28 x 28) would go to DRAM and back,
  and thin products like ``(16 x 144) @ (144 x 50176)`` then run at half the speed of
  the same work in cache-sized pieces;
* the backward pass rebuilds each chunk's patches (cheap, in cache) instead of
  storing the whole patch matrix, except the last chunk's: the forward pass leaves
  those in their buffer, and the backward pass goes through the chunks last first;
* for stride 1 a patch row is one contiguous slice of the flattened padded image, and
  only the ``kw`` horizontal shifts of the image are copied (:func:`row_patches`): the
  ``kh`` vertical offsets are slices of those copies, and the product is a sum of
  ``kh`` products, one per kernel row (:func:`rows_product`), which BLAS reads in place.
  Three times less copying than a full im2col for a 3 x 3 kernel. A layer with few
  input channels (:func:`few_channels`, the first: 1 channel, 16 filters) copies all
  :math:`k_h k_w` offsets instead and does one product: each further kernel row then
  costs 3 copied patch rows where the sum would add an output of 16 rows;
* the bias is the weight of a row of ones in the patch matrix (:func:`row_patches`):
  no pass of its own over the output, and its gradient comes out of the weight
  gradient's product;
* scratch arrays live in a :class:`Workspace` and are reused between steps: allocating
  tens of MB afresh every step makes glibc hand out new ``mmap`` pages whose page
  faults cost as much as the arithmetic;
* BLAS runs on one thread inside the passes (:class:`one_blas_thread`): a second core
  is used one level up, a shard of the batch per thread (:mod:`coursekit.nn.data_parallel`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CHUNK_BYTES",
    "Workspace",
    "conv_output_shape",
    "chunk_size",
    "im2col",
    "col2im",
    "col2im_rows",
    "row_length",
    "flat_shape",
    "pad_flat",
    "row_patches",
    "few_channels",
    "kernel_rows",
    "row_slice",
    "rows_product",
    "blas_threads",
    "one_blas_thread",
    "conv2d_gemm_forward",
    "conv2d_gemm_backward",
]

#: Target size of one chunk's patch matrix (a fraction of a 1 MB L2 + a shared L3).
CHUNK_BYTES = 2 * 1024 * 1024


class Workspace:
    """Named scratch arrays that survive between calls.

    ``get(name, shape, dtype)`` returns the array stored under ``name`` when its shape
    and dtype match, and allocates a new one otherwise. Arrays handed out by a
    workspace are overwritten by the next call that asks for the same name, so a
    workspace belongs to ONE layer (the model gives every convolution its own).
    """

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}
        self._children: dict = {}

    def get(self, name, shape, dtype, zeros=False):
        """Return a buffer ``name`` of ``shape``/``dtype``; new ones are zeroed if ``zeros``."""
        buf = self._buffers.get(name)
        # (Compared as given: a tuple of NumPy ints equals the same tuple of ints.)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            shape = tuple(int(s) for s in shape)
            buf = np.zeros(shape, dtype) if zeros else np.empty(shape, dtype)
            self._buffers[name] = buf
        return buf

    def sub(self, key):
        """A child workspace stored under ``key`` (created on first use)."""
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = Workspace()
        return child

    def clear(self):
        """Drop every buffer (frees the memory)."""
        self._buffers.clear()
        self._children.clear()

    @property
    def nbytes(self):
        """Total bytes held."""
        return sum(b.nbytes for b in self._buffers.values()) + sum(
            c.nbytes for c in self._children.values()
        )


def _scratch(ws, name, shape, dtype, zeros=False):
    if ws is None:
        return np.zeros(shape, dtype) if zeros else np.empty(shape, dtype)
    return ws.get(name, shape, dtype, zeros=zeros)


def conv_output_shape(h, w, kh, kw, stride, pad):
    r"""Output height and width: :math:`H_o = \lfloor (H + 2p - k_h) / s \rfloor + 1`."""
    return (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1


def chunk_size(n, k, hw, itemsize):
    """Images per chunk so that a chunk's ``(nb, k, hw)`` patch matrix is at most about
    CHUNK_BYTES, in as few chunks as that allows, of near-equal sizes.

    Equal chunks rather than full ones and a remainder: 64 images of the digits' second
    convolution go as 32 + 32 instead of 45 + 19 (half-empty calls cost the same fixed
    overheads, and every chunk size has its own buffers).
    """
    fit = int(max(1, min(n, CHUNK_BYTES // max(1, k * hw * itemsize))))
    chunks = -(-n // fit)  # ceil(n / fit)
    return -(-n // chunks)


def im2col(x, kh, kw, stride, pad, ws=None):
    """Patch matrices of a batch: ``cols`` of shape ``(N, C, kh, kw, Ho, Wo)``.

    ``cols[n, c, u, v, i, j] = xpad[n, c, s i + u, s j + v]``; reshaped to
    ``(N, C kh kw, Ho Wo)`` it is the stack of the :math:`X_n` above.
    """
    n, c, h, w = x.shape
    ho, wo = conv_output_shape(h, w, kh, kw, stride, pad)
    if pad:
        # Borders are zeroed when the buffer is created and never written afterwards.
        xp = _scratch(ws, "xpad", (n, c, h + 2 * pad, w + 2 * pad), x.dtype, zeros=True)
        xp[:, :, pad : pad + h, pad : pad + w] = x
    else:
        xp = x
    cols = _scratch(ws, "cols", (n, c, kh, kw, ho, wo), x.dtype)
    hspan, wspan = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    for u in range(kh):
        for v in range(kw):
            # One strided slice of the whole chunk per kernel offset.
            cols[:, :, u, v] = xp[:, :, u : u + hspan : stride, v : v + wspan : stride]
    return cols


def col2im(cols, x_shape, stride, pad, ws=None, out=None):
    """Adjoint of :func:`im2col`: add every patch back onto an ``x_shape`` batch.

    ``cols`` has shape ``(N, C, kh, kw, Ho, Wo)``; the result has ``x_shape`` (N, C, H, W)
    and is written to ``out`` when given.
    """
    n, c, h, w = x_shape
    _, _, kh, kw, ho, wo = cols.shape
    xp = _scratch(ws, "dxpad", (n, c, h + 2 * pad, w + 2 * pad), cols.dtype)
    xp.fill(0)
    hspan, wspan = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    for u in range(kh):
        for v in range(kw):
            xp[:, :, u : u + hspan : stride, v : v + wspan : stride] += cols[:, :, u, v]
    if out is None:
        out = np.empty(x_shape, cols.dtype)
    out[...] = xp[:, :, pad : pad + h, pad : pad + w]
    return out


def row_length(w, kw, pad):
    r"""Row length :math:`W_p` of the flat padded images: :math:`W + p` for the usual
    :math:`p \le k_w - 1` (at least :math:`W_o`).

    Flat, the right padding of a row and the left padding of the next row are neighbours,
    and both are zeros: ONE set of :math:`p` zero columns serves as both (a patch that
    runs past the right edge of row :math:`i` reads the left padding of row :math:`i+1`).
    So a row holds :math:`p` zeros and :math:`W` pixels, not :math:`2p + W`, and the
    products computed on the :math:`H_o \times W_p` grid (:func:`row_patches`) waste
    :math:`W_p - W_o = p` columns per row instead of :math:`2p`: 10 % less work at
    8 x 8, 17 % at 4 x 4 (3 % at 28 x 28).
    """
    return w + max(pad, 2 * pad - kw + 1)


def flat_shape(x_shape, kw, pad):
    """Shape ``(N, C, Hp Wp + kw - 1)`` of the flat padded images (see :func:`pad_flat`),
    with :math:`H_p = H + 2p` rows of :math:`W_p` = :func:`row_length` values."""
    n, c, h, w = x_shape
    # kw - 1 zeros of slack after each image: the last offset's slice runs past hp * wp.
    return (n, c, (h + 2 * pad) * row_length(w, kw, pad) + kw - 1)


def pad_flat(x, kw, pad, out):
    """Write ``x`` (N, C, H, W) into the zero-bordered flat buffer ``out`` and return it.

    Row :math:`i` of image :math:`n`, channel :math:`c`, goes to flat row :math:`i + p`
    after :math:`p` zeros (:func:`row_length`). Only the interior is written: the
    borders and the slack must be zero already (a buffer created with zeros and only ever
    used for this keeps them zero).
    """
    n, c, h, w = x.shape
    hp, wp = h + 2 * pad, row_length(w, kw, pad)
    out[:, :, : hp * wp].reshape(n, c, hp, wp)[:, :, pad : pad + h, pad : pad + w] = x
    return out


def row_patches(xp, kw, wp, ws=None, name="rows", ones=False, kh=1):
    r"""Stride-1 patches of flat padded images, one kernel ROW at a time: ``(N, C kw, Hp wp)``.

    ``xp`` (N, C, Hp wp + kw - 1) holds the padded images flat, row length ``wp``
    (:func:`pad_flat`, :func:`row_length`), and the output is computed on a grid
    :math:`H_o \times W_p` instead of :math:`H_o \times W_o`: output pixel :math:`(i, j)`
    then reads flat position :math:`i W_p + j + (u W_p + v)`, so the patch row of kernel
    offset :math:`(u, v)` is ONE contiguous slice, of length :math:`H_o W_p`, starting at
    :math:`u W_p + v`. The last :math:`W_p - W_o` columns of each output row wrap around
    into the next row: they are computed and thrown away (about 4 % extra work at
    28 x 28), much cheaper than copying ``Ho`` short rows per offset.

    Only the ``kw`` horizontal shifts are copied, ``rows[n, c kw + v, q] = xp[n, c, q + v]``
    for every position :math:`q < H_p W_p`: the patch rows of kernel row :math:`u` are then
    ``rows[n, :, u wp : u wp + Ho wp]``, a slice, so the vertical offsets cost no copy
    (:func:`rows_product`). A full im2col copies ``kh`` times as much.

    With ``kh`` > 1 the vertical offsets are copied too, ``rows[n, (c kh + u) kw + v, q] =
    xp[n, c, q + u wp + v]`` for :math:`q < H_o W_p`: the full patch matrix, for ONE product
    (:func:`few_channels`).

    With ``ones`` the matrix gets one more row, all ones, after the patch rows:
    the constant input whose weight is the bias (:func:`kernel_rows`), so the product
    adds the bias (and the weight gradient's product gives the bias gradient) without a
    pass of its own over the output.
    """
    n, c, length = xp.shape
    k, span = c * kh * kw, length - kw + 1 - (kh - 1) * wp
    rows = _scratch(ws, name, (n, k + int(ones), span), xp.dtype)
    shifts = rows[:, :k].reshape(n, c, kh, kw, span)
    for u in range(kh):
        for v in range(kw):
            shifts[:, :, u, v] = xp[:, :, u * wp + v : u * wp + v + span]
    if ones:
        rows[:, k] = 1
    return rows


def few_channels(c, kw, f):
    """Whether a stride-1 convolution with ``c`` input channels, ``f`` filters and ``kw``
    columns per kernel is done with the full patch matrix and ONE product rather than one
    product per kernel row: when ``c kw < f`` (the course's first layer: 3 < 16). Each
    product per kernel row writes an output of ``f`` rows that must then be added, while
    the full patch matrix only costs copies of ``c kw`` rows per extra kernel row."""
    return c * kw < f


def kernel_rows(w, b=None):
    """The weights ``(F, C, kh, kw)`` as ``kh`` matrices ``(F, C kw)``, one per kernel row.

    With a bias ``b`` (F,), the first matrix gets it as one more column, ``(F, C kw + 1)``:
    the weight of the row of ones of :func:`row_patches` with ``ones``.
    """
    f, c, kh, kw = w.shape
    mats = [np.ascontiguousarray(w[:, :, u, :]).reshape(f, c * kw) for u in range(kh)]
    if b is not None:
        mats[0] = np.concatenate([mats[0], b.reshape(f, 1)], axis=1)
    return mats


def row_slice(rows, u, wp, span, k=None):
    """The first ``k`` patch rows (all by default) of kernel row ``u``: the
    ``(N, k, span)`` view of ``rows`` starting at column ``u wp``."""
    return rows[:, :k, u * wp : u * wp + span]


def rows_product(wrows, rows, wp, span, out, tmp):
    r"""``out = sum_u wrows[u] @ row_slice(rows, u, wp, span)`` over the kernel rows.

    :math:`Y_n = \sum_u W_u X_{n,u}` is the im2col product :math:`W X_n` with its inner
    dimension split by kernel row. Each term is a BLAS product on a strided view (no
    copy: a matrix whose rows are evenly spaced is what BLAS reads anyway) of as many
    patch rows as ``wrows[u]`` has columns (so a bias column in ``wrows[0]`` reads the
    row of ones); the terms are added in ``out`` (``tmp`` is scratch of ``out``'s shape).
    """
    for u, wu in enumerate(wrows):
        np.matmul(wu, row_slice(rows, u, wp, span, wu.shape[1]), out=out if u == 0 else tmp)
        if u:
            out += tmp
    return out


def col2im_rows(cols, x_shape, pad, ws=None, out=None):
    """Adjoint of the full stride-1 patch matrix ``(N, C, kh, kw, Ho Wp)`` built from
    :func:`row_patches` (row ``(u, v)`` is ``rows[:, :, v, u Wp : u Wp + Ho Wp]``): adds every
    patch row back onto the image (the garbage columns must carry zero gradient)."""
    n, c, h, w = x_shape
    _, _, kh, kw, span = cols.shape
    hp, wp = h + 2 * pad, row_length(w, kw, pad)
    xp = _scratch(ws, "dxflat", (n, c, hp * wp + kw - 1), cols.dtype)
    xp.fill(0)
    for u in range(kh):
        for v in range(kw):
            off = u * wp + v
            xp[:, :, off : off + span] += cols[:, :, u, v]
    if out is None:
        out = np.empty(x_shape, cols.dtype)
    out[...] = xp[:, :, : hp * wp].reshape(n, c, hp, wp)[:, :, pad : pad + h, pad : pad + w]
    return out


# --------------------------------------------------------------------------- BLAS threads
_BLAS_CONTROLLERS = None


def _blas_controllers():
    """threadpoolctl's controllers of NumPy's BLAS (empty if threadpoolctl is missing)."""
    global _BLAS_CONTROLLERS
    if _BLAS_CONTROLLERS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLERS = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # threadpoolctl is optional: BLAS keeps its own setting
            _BLAS_CONTROLLERS = []
    return _BLAS_CONTROLLERS


def blas_threads():
    """The BLAS thread count currently allowed (``threadpool_limits`` sets it)."""
    return max((c.get_num_threads() for c in _blas_controllers()), default=1)


class one_blas_thread:
    """Context manager: BLAS on one thread inside, the caller's setting restored after.

    A pass's products are small (one chunk of images): splitting each of them across
    cores costs a synchronisation per call, more than it gives (on this course's machine
    a threaded OpenBLAS made the step slower). A second core pays off one level up, with
    a shard of the batch per thread (:mod:`coursekit.nn.data_parallel`).
    """

    def __enter__(self):
        self._saved = [c.get_num_threads() for c in _blas_controllers()]
        for c, t in zip(_blas_controllers(), self._saved, strict=True):
            if t != 1:
                c.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for c, t in zip(_blas_controllers(), self._saved, strict=True):
            if t != 1:
                c.set_num_threads(t)


def _chunk_ws(ws, m):
    """The scratch space for chunks of ``m`` images (None: allocate)."""
    return None if ws is None else ws.sub(m)


# --------------------------------------------------------------------------- the passes
def conv2d_gemm_forward(x, w, b, stride, pad, ws=None, out=None, relu=False):
    r"""Convolution by chunked im2col + GEMM (inputs already validated, one dtype).

    Parameters
    ----------
    x : ndarray (N, C, H, W); w : ndarray (F, C, kh, kw); b : ndarray (F,)
    stride, pad : int
    ws : Workspace, optional
    out : ndarray (N, F, Ho, Wo), optional, C-contiguous, written in place
    relu : bool
        Apply :math:`\max(\cdot, 0)` chunk by chunk while the output is in cache (the
        model's conv + ReLU block; pass the output as ``relu_out`` to the backward).

    Returns
    -------
    out : ndarray (N, F, Ho, Wo)
    cache : ``(x, w, stride, pad, ws, xflat, rows)``, ``xflat`` the padded input (stride
        1), ``kept = (n0, rows)`` the patch rows (:func:`row_patches`) of the last chunk,
        images ``n0:`` (stride 1; else None)
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho, wo = conv_output_shape(h, wd, kh, kw, stride, pad)
    # Stride 1 uses the long-row layout (width wp per output row), else the plain one.
    wcols = row_length(wd, kw, pad) if stride == 1 else wo
    k, hw = c * kh * kw, ho * wcols
    wmat = w.reshape(f, k)
    # Stride 1: the bias rides in the first row product, as the weight of a row of ones.
    full = stride == 1 and few_channels(c, kw, f)
    if full:
        wrows = [np.concatenate([wmat, b[:, None]], axis=1)]  # one product, K = C kh kw + 1
    else:
        wrows = kernel_rows(w, b) if stride == 1 else None
    if out is None:
        out = np.empty((n, f, ho, wo), x.dtype)
    nb = chunk_size(n, k, hw, x.itemsize)
    # Stride 1: the padded input of the whole batch is kept for the backward pass
    # (each chunk pads its own images into it).
    xflat = (
        _scratch(ws, "xflat", flat_shape(x.shape, kw, pad), x.dtype, zeros=True)
        if stride == 1
        else None
    )
    rows = None
    with one_blas_thread():
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            m = n1 - n0
            cws = _chunk_ws(ws, m)
            y = _scratch(cws, "y", (m, f, ho, wcols), x.dtype)
            if stride == 1:
                xp = pad_flat(x[n0:n1], kw, pad, xflat[n0:n1])
                # Y_n = b + sum_u W_u X_{n,u}: one product per kernel row u, on slices of
                # the kw shifted copies (image n of the NCHW output, Ho x Wp).
                rows = row_patches(xp, kw, wcols, cws, ones=True, kh=kh if full else 1)
                rows_product(
                    wrows,
                    rows,
                    wcols,
                    hw,
                    y.reshape(m, f, hw),
                    _scratch(cws, "tmp", (m, f, hw), x.dtype),
                )
            else:
                cols = im2col(x[n0:n1], kh, kw, stride, pad, cws)
                # (F, K) @ (nb, K, Ho Wo) -> (nb, F, Ho Wo): image n of the NCHW output.
                np.matmul(wmat, cols.reshape(m, k, hw), out=y.reshape(m, f, hw))
                y += b[:, None, None]
            # One pass from the product's layout to the output: with the ReLU, or a copy.
            if relu:
                np.maximum(y[..., :wo], 0, out=out[n0:n1])
            else:
                out[n0:n1] = y[..., :wo]
    # The last chunk's patch rows are still in their buffer (the whole batch's when it
    # is one chunk, as for small images): the backward's weight gradient reads them
    # instead of building them again. The other chunks' rows were overwritten by the
    # next chunk's; keeping them all in a batch-sized buffer was slower (10 % at 28 x 28:
    # they go to DRAM and back), so the backward rebuilds them from xflat, in cache.
    kept = (n0, rows) if stride == 1 else None
    return out, (x, w, stride, pad, ws, xflat, kept)


def conv2d_gemm_backward(dout, cache, need_dx=True, dx=None, relu_out=None):
    """Gradients ``(dx, dw, db)`` of :func:`conv2d_gemm_forward`.

    ``dx`` is None unless ``need_dx``; when an array is passed as ``dx`` it is filled
    in place. Each chunk's patches are rebuilt from the cached input (cheap and in
    cache, where storing them would cost a trip through DRAM), unless the forward pass
    kept them (the last chunk's, stride 1: so the chunks go last first). With ``relu_out`` (the
    output of a forward with ``relu=True``), ``dout`` is the gradient after the ReLU and
    is masked by ``relu_out > 0`` chunk by chunk.

    Longer than ~80 lines on purpose: the three products (dW, db, dx) share one loop
    over the chunks, so that a chunk's patches are built once and used while in cache.
    """
    x, w, stride, pad, ws, xflat, kept = cache
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    wcols = row_length(wd, kw, pad) if stride == 1 else wo
    k, hw = c * kh * kw, ho * wcols
    wmat = w.reshape(f, k)
    if need_dx and dx is None:
        dx = np.empty(x.shape, x.dtype)
    # The input gradient as a transposed convolution needs stride 1 and pad <= k - 1.
    transposed = stride == 1 and pad <= min(kh, kw) - 1 and kh == kw
    # "Same" padding (2 pad = k - 1): the gradient laid out with the garbage columns at
    # zero IS the interior of the flat padded gradient image the transposed convolution
    # needs, so it is written there directly (no second padding copy).
    same = transposed and 2 * pad == kw - 1
    if transposed:
        # The flipped kernels with input and output channels swapped, row by row.
        w2rows = kernel_rows(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)) if need_dx else None
        p2 = kh - 1 - pad  # the gradient image's padding
        wq = row_length(wo, kw, p2)  # its row length (= wcols)
    full = stride == 1 and few_channels(c, kw, f)  # as in the forward pass
    nb = chunk_size(n, k, hw, x.itemsize)
    # dW accumulated as (kh, C, kw, F): kernel row first, as the row products give it.
    dwt = np.zeros((kh, c, kw, f), x.dtype)
    dbt = np.zeros(f, x.dtype)
    with one_blas_thread():
        for n0 in reversed(range(0, n, nb)):  # the last chunk first: see rows
            n1 = min(n, n0 + nb)
            m = n1 - n0
            cws = _chunk_ws(ws, m) or Workspace()
            if stride == 1:
                # With the forward's row of ones: its product with Delta is the bias gradient.
                rows = kept[1] if kept[0] == n0 else None
                if rows is None:  # not the last chunk: rebuilt (the forward's are overwritten)
                    rows = row_patches(
                        xflat[n0:n1], kw, wcols, cws, ones=True, kh=kh if full else 1
                    )
                # Zero gradient on the wrapped-around columns, written once at allocation.
                if same:
                    dflat = _scratch(
                        cws, "dflat", flat_shape((m, f, ho, wo), kw, pad), x.dtype, zeros=True
                    )
                    off = pad * wcols + pad
                    dext = dflat[:, :, off : off + ho * wcols].reshape(m, f, ho, wcols)
                else:
                    dext = _scratch(cws, "dext", (m, f, ho, wcols), x.dtype, zeros=True)
                if relu_out is None:
                    dext[..., :wo] = dout[n0:n1]
                else:
                    # The ReLU mask in a reused buffer (`relu_out > 0` would allocate it).
                    mask = _scratch(cws, "mask", (m, f, ho, wo), bool)
                    np.greater(relu_out[n0:n1], 0, out=mask)
                    np.multiply(dout[n0:n1], mask, out=dext[..., :wo])
            else:
                cols = im2col(x[n0:n1], kh, kw, stride, pad, cws)
                dext = dout[n0:n1] if relu_out is None else dout[n0:n1] * (relu_out[n0:n1] > 0)
            dchunk = dext.reshape(m, f, hw)
            if full:
                # dW^T = sum_n X_n Delta_n^T with the full patch matrix, and its row of ones.
                part = _scratch(cws, "dwpart", (m, k + 1, f), x.dtype)
                np.matmul(rows, dchunk.transpose(0, 2, 1), out=part)
                summed = np.add.reduce(part, axis=0)
                dwt += summed[:k].reshape(c, kh, kw, f).transpose(1, 0, 2, 3)
                dbt += summed[k]
            elif stride == 1:
                # dW[:, :, u]^T = sum_n X_{n,u} Delta_n^T, one kernel row u at a time; for
                # u = 0 one more row, the row of ones: db = sum_n Delta_n 1 (the garbage
                # columns of Delta are zero).
                for u in range(kh):
                    ku = c * kw + (u == 0)
                    part = _scratch(cws, f"dwpart{ku}", (m, ku, f), x.dtype)
                    xu = row_slice(rows, u, wcols, hw, ku)
                    np.matmul(xu, dchunk.transpose(0, 2, 1), out=part)
                    summed = np.add.reduce(part, axis=0)
                    dwt[u] += summed[: c * kw].reshape(c, kw, f)
                    if u == 0:
                        dbt += summed[c * kw]
            else:
                # dW^T = sum_n X_n Delta_n^T: (nb, K, HW) @ (nb, HW, F), summed over the chunk.
                part = _scratch(cws, "dwpart", (m, k, f), x.dtype)
                np.matmul(cols.reshape(m, k, hw), dchunk.transpose(0, 2, 1), out=part)
                dwt += part.sum(axis=0).reshape(c, kh, kw, f).transpose(1, 0, 2, 3)
                dbt += dchunk.sum(axis=(0, 2))
            if need_dx and transposed:
                # dx = conv(dout, w flipped and transposed, pad kh-1-pad), by the same row
                # products: copies of the gradient (cheaper than col2im's strided
                # additions), and the GEMM's inner dimension is F kw instead of F.
                if same:
                    dq = dflat
                else:
                    dq = pad_flat(
                        dext[..., :wo],
                        kw,
                        p2,
                        _scratch(
                            cws, "dq", flat_shape((m, f, ho, wo), kw, p2), x.dtype, zeros=True
                        ),
                    )
                ydx = _scratch(cws, "ydx", (m, c, h, wq), x.dtype)
                rows_product(
                    w2rows,
                    row_patches(dq, kw, wq, cws, "drows"),
                    wq,
                    h * wq,
                    ydx.reshape(m, c, -1),
                    _scratch(cws, "tmpdx", (m, c, h * wq), x.dtype),
                )
                dx[n0:n1] = ydx[..., :wd]
            elif need_dx:
                dcols = _scratch(
                    cws, "dcols", (m, c, kh, kw) + ((hw,) if stride == 1 else (ho, wo)), x.dtype
                )
                np.matmul(wmat.T, dchunk, out=dcols.reshape(m, k, hw))
                if stride == 1:
                    col2im_rows(dcols, (m, c, h, wd), pad, cws, out=dx[n0:n1])
                else:
                    col2im(dcols, (m, c, h, wd), stride, pad, cws, out=dx[n0:n1])
    return (dx if need_dx else None), np.ascontiguousarray(dwt.transpose(3, 1, 0, 2)), dbt
