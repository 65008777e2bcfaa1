r"""All-reduce algorithms message by message, on real data, with a port-level clock.

:func:`coursekit.distributed.cost.allreduce_time` gives closed forms. This module derives the
same numbers the long way, the way a student would draw them on paper: it lists every message
of an algorithm (who sends which slice of which buffer to whom), executes the messages on real
arrays, and times them with the rules of the alpha-beta model:

- a message of :math:`n` bytes occupies the sender's send port and the receiver's receive port
  for :math:`\alpha + n / B` seconds (full-duplex links, one message in and one out at a time);
- a node forwards data only after it has received everything addressed to it earlier in the
  schedule (the data dependencies of the algorithm).

Each message starts at :math:`\max(\text{send port free}, \text{receive port free},
\text{dependencies done})`; the all-reduce time is the last finish. Because the data really
moves, the result can be checked too: every node ends with the sum of all vectors.

Nodes ``0 .. p-1`` are the workers; the parameter server adds ``k`` server nodes ``p .. p+k-1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coursekit._checks import check_choice, check_int, check_real

from .cost import ALGORITHMS

__all__ = ["Message", "AllreduceTrace", "schedule", "simulate_allreduce"]


@dataclass(frozen=True)
class Message:
    """One point-to-point message of a schedule.

    Attributes
    ----------
    src, dst : int
        Sending and receiving node.
    lo, hi : int
        The slice ``[lo, hi)`` of the vector that travels.
    op : {"add", "copy"}
        What the receiver does with it: add into its buffer (reduction) or overwrite (result).
    phase : {"send", "receive"}
        ``"send"`` for messages that carry contributions toward the sum (gather, push,
        reduce, reduce-scatter), ``"receive"`` for those that carry the result back.
    round : int
        The algorithm's step. A node sends in round :math:`r` only data it had before the
        round started: it waits for the messages it received in rounds :math:`< r`.
    """

    src: int
    dst: int
    lo: int
    hi: int
    op: str
    phase: str
    round: int


@dataclass
class AllreduceTrace:
    """What :func:`simulate_allreduce` returns.

    Attributes
    ----------
    result : ndarray, shape (p, d)
        Every worker's buffer after the all-reduce (each row should equal the sum).
    time : float
        Finish time of the last message (seconds).
    bytes_sent : float
        Sum of the sizes of all messages.
    messages : list of Message
    start, finish : ndarray, shape (n_messages,)
        When each message started and finished.
    """

    result: np.ndarray
    time: float
    bytes_sent: float
    messages: list
    start: np.ndarray
    finish: np.ndarray


def _bounds(d: int, parts: int) -> np.ndarray:
    # Same cut as np.array_split: the first d % parts pieces get one extra element.
    sizes = np.full(parts, d // parts)
    sizes[: d % parts] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def schedule(n_workers: int, dim: int, algorithm: str = "ring", shards: int = 1) -> list:
    r"""The list of messages of one all-reduce of a length-``dim`` vector over ``n_workers``.

    The order of the list is a valid sequential execution (each message's data is ready when
    it is reached).

    - ``"naive"``: workers ``1..p-1`` send to root 0 (add), then 0 sends the sum to each.
    - ``"parameter_server"``: worker :math:`i` sends shard :math:`(i+t) \bmod k` in its
      :math:`t`-th message to server :math:`p + (i+t) \bmod k` (a rotation, so that servers
      are not all hit at once); servers then return their shard of the sum the same way.
    - ``"tree"``: binomial tree. Round :math:`r` of the reduce: node :math:`i` with
      :math:`i \bmod 2^{r+1} = 2^r` sends to :math:`i - 2^r`; the broadcast runs the rounds
      backwards.
    - ``"ring"``: :math:`p` chunks; reduce-scatter step :math:`s`: node :math:`i` sends chunk
      :math:`(i - s) \bmod p` to :math:`i + 1` (add); after :math:`p-1` steps node :math:`i`
      owns the summed chunk :math:`i + 1`; all-gather step :math:`s`: node :math:`i` sends chunk
      :math:`(i + 1 - s) \bmod p` to :math:`i + 1` (copy).

    Parameters
    ----------
    n_workers : int
        :math:`p \ge 1`.
    dim : int
        Vector length :math:`d \ge 1`.
    algorithm : {"naive", "parameter_server", "tree", "ring"}
    shards : int
        :math:`k \ge 1` servers (parameter server only).

    Returns
    -------
    list of Message
    """
    p = check_int(n_workers, "n_workers", minimum=1)
    d = check_int(dim, "dim", minimum=1)
    algorithm = check_choice(algorithm, "algorithm", ALGORITHMS)
    k = check_int(shards, "shards", minimum=1)
    msgs: list[Message] = []
    if algorithm == "naive":
        msgs += [Message(i, 0, 0, d, "add", "send", 0) for i in range(1, p)]
        msgs += [Message(0, i, 0, d, "copy", "receive", 1) for i in range(1, p)]
    elif algorithm == "parameter_server":
        cut = _bounds(d, k)
        for t in range(k):
            for i in range(p):
                j = (i + t) % k
                msgs.append(Message(i, p + j, cut[j], cut[j + 1], "add", "send", t))
        for t in range(k):
            for i in range(p):
                j = (i + t) % k
                msgs.append(Message(p + j, i, cut[j], cut[j + 1], "copy", "receive", k + t))
    elif algorithm == "tree":
        rounds = (p - 1).bit_length()
        for r in range(rounds):
            step = 1 << r
            msgs += [
                Message(i, i - step, 0, d, "add", "send", r)
                for i in range(p)
                if i % (2 * step) == step
            ]
        for r in reversed(range(rounds)):
            step = 1 << r
            msgs += [
                Message(i, i + step, 0, d, "copy", "receive", 2 * rounds - 1 - r)
                for i in range(0, p, 2 * step)
                if i + step < p
            ]
    else:
        cut = _bounds(d, p)
        for s in range(p - 1):
            for i in range(p):
                c = (i - s) % p
                msgs.append(Message(i, (i + 1) % p, cut[c], cut[c + 1], "add", "send", s))
        for s in range(p - 1):
            for i in range(p):
                c = (i + 1 - s) % p
                msgs.append(
                    Message(i, (i + 1) % p, cut[c], cut[c + 1], "copy", "receive", p - 1 + s)
                )
    return msgs


def simulate_allreduce(vectors, latency, bandwidth, algorithm="ring", shards=1):
    r"""Run an all-reduce message by message on real data and time it (see the module doc).

    Parameters
    ----------
    vectors : array_like, shape (p, d)
        Row :math:`i` is worker :math:`i`'s vector. Message sizes are
        ``(hi - lo) * itemsize`` bytes.
    latency : float
        :math:`\alpha \ge 0` seconds.
    bandwidth : float
        :math:`B > 0` bytes/s.
    algorithm : {"naive", "parameter_server", "tree", "ring"}
    shards : int
        Parameter-server shards :math:`k`.

    Returns
    -------
    AllreduceTrace
    """
    V = np.array(vectors, copy=True)
    if V.ndim != 2 or V.size == 0:
        raise ValueError(f"vectors must have shape (p, d) with p, d >= 1, got {V.shape}")
    if not np.issubdtype(V.dtype, np.floating):
        V = V.astype(float)
    alpha = check_real(latency, "latency", minimum=0.0)
    B = check_real(bandwidth, "bandwidth", minimum=0.0, strict=True, allow_inf=True)
    p, d = V.shape
    msgs = schedule(p, d, algorithm, shards)
    n_nodes = p + (shards if algorithm == "parameter_server" else 0)
    buf = np.zeros((n_nodes, d), dtype=V.dtype)
    buf[:p] = V
    send_free = np.zeros(n_nodes)
    recv_free = np.zeros(n_nodes)
    # A node forwards only what it has: in round r it waits for what it received in rounds < r.
    # `received_by` holds the finish of those; this round's arrivals wait in `arrived`.
    received_by = np.zeros(n_nodes)
    arrived = np.zeros(n_nodes)
    current_round = msgs[0].round if msgs else 0
    start = np.empty(len(msgs))
    finish = np.empty(len(msgs))
    total = 0.0
    for m_id, m in enumerate(msgs):
        if m.round != current_round:
            received_by = np.maximum(received_by, arrived)
            current_round = m.round
        size = (m.hi - m.lo) * V.itemsize
        s = max(send_free[m.src], recv_free[m.dst], received_by[m.src])
        f = s + alpha + size / B
        start[m_id], finish[m_id] = s, f
        send_free[m.src] = f
        recv_free[m.dst] = f
        arrived[m.dst] = max(arrived[m.dst], f)
        total += size
        payload = buf[m.src, m.lo : m.hi].copy()
        if m.op == "add":
            buf[m.dst, m.lo : m.hi] += payload
        else:
            buf[m.dst, m.lo : m.hi] = payload
    time = float(finish.max()) if len(msgs) else 0.0
    return AllreduceTrace(buf[:p], time, total, msgs, start, finish)
