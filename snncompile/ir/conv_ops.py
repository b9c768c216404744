"""Convolution and sum pooling on the flat spike vector (NIR Conv1d, Conv2d, SumPool2d; nir 1.0.8).

Values flow between nodes as flat C-order vectors; these ops reshape their input with
`input_shape` = (C_in, L) or (C_in, H, W) and flatten their output (C_out, *out) again.
Per spatial axis a (stride s, padding p, dilation q, kernel k, input n):

    out = floor((n + 2 p - q (k - 1) - 1) / s) + 1

Conv (Conv1d: one spatial axis, Conv2d: two), groups G, C_in / G input channels per group:

    y[co, o] = bias[co] + sum_{ci in group(co)} sum_k W[co, ci - g(co) C_in / G, k]
                                                       * x[ci, o s - p + k q]

(taps outside the input read the zero padding; multi-index o, k per axis). SumPool2d: the
same with one kernel of ones per channel (G = C, dilation 1, no bias):

    y[c, o] = sum_k x[c, o s - p + k]

`spiking` says that the input is a spike vector (integer counts: a synapse stage fed by
neurons); the output is a float current. The op's connections (`taps()`: output index, input
index, weight index; taps in the padding are no connection) are the synapses of the unrolled
(d_out, d_in) matrix (`unrolled()`), zero-valued weights included.

Accounting: a float input reads every connection (macs = connections, SumPool2d: acs); on
spikes the synaptic events are the connections the spikes reach: acs = sum_j |s_j| fan_out_j
(`fan_out()`, the interpreter's walk measures it), and `counts(spike_sum)` alone gives the
expectation spike_sum * connections / d_in. A bias adds d_out acs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncompile.errors import IRError
from snncompile.ir.counts import Counts
from snncompile.ir.ops import FLOAT_DTYPES, Op


def out_size(n: int, k: int, s: int, p: int, q: int = 1) -> int:
    """floor((n + 2 p - q (k - 1) - 1) / s) + 1 (module docstring)."""
    return (n + 2 * p - q * (k - 1) - 1) // s + 1


@dataclass(frozen=True, kw_only=True)
class _Windowed(Op):
    """The shared window arithmetic of Conv1d, Conv2d and SumPool2d (module docstring)."""

    NDIM: ClassVar[int] = 2
    input_shape: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    spiking: bool = False

    @property
    def in_kinds(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("spike",) if self.spiking else ("float",)

    # -- shape ------------------------------------------------------------------------------
    @property
    def channels_out(self) -> int:
        return self.input_shape[0]

    @property
    def groups_(self) -> int:
        return self.input_shape[0]

    @property
    def dilation_(self) -> tuple[int, ...]:
        return (1,) * self.NDIM

    @property
    def output_shape(self) -> tuple[int, ...]:
        sp = tuple(out_size(n, k, s, p, q) for n, k, s, p, q in zip(
            self.input_shape[1:], self.kernel, self.stride, self.padding, self.dilation_))
        return (self.channels_out, *sp)

    @property
    def d_in(self) -> int:
        return math.prod(self.input_shape)

    @property
    def d_out(self) -> int:
        return math.prod(self.output_shape)

    def verify(self) -> None:
        super().verify()
        n = self.NDIM
        for name, want in (("input_shape", n + 1), ("kernel", n), ("stride", n),
                           ("padding", n)):
            v = getattr(self, name)
            if len(v) != want:
                raise IRError(f"{self.op_type}.{name} must have {want} entries, got {v!r}")
        for name in ("input_shape", "kernel", "stride"):
            if min(getattr(self, name)) < 1:
                raise IRError(f"{self.op_type}.{name} must be positive, got "
                              f"{getattr(self, name)!r}")
        if min(self.padding) < 0:
            raise IRError(f"{self.op_type}.padding must be >= 0, got {self.padding!r}")
        if min(self.output_shape[1:]) < 1:
            raise IRError(f"{self.op_type}: the window does not fit the input "
                          f"{self.input_shape!r} (output {self.output_shape!r})")

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d_in,)])
        return [(self.d_out,)]

    # -- connections ------------------------------------------------------------------------
    def weight_shape(self) -> tuple[int, ...]:
        return (self.channels_out, self.input_shape[0] // self.groups_, *self.kernel)

    @functools.cached_property
    def _taps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.NDIM
        c_in, sp_in = self.input_shape[0], self.input_shape[1:]
        c_out, sp_out = self.output_shape[0], self.output_shape[1:]
        g = self.groups_
        cin_g, cout_g = c_in // g, c_out // g
        grid = (c_out, cin_g, *sp_out, *self.kernel)
        idx = np.indices(grid, dtype=np.int64).reshape(len(grid), -1)
        co, cil, o, k = idx[0], idx[1], idx[2:2 + n], idx[2 + n:]
        pos = [o[a] * self.stride[a] - self.padding[a] + k[a] * self.dilation_[a]
               for a in range(n)]
        valid = np.ones(co.size, bool)
        for a in range(n):
            valid &= (pos[a] >= 0) & (pos[a] < sp_in[a])
        ci = (co // cout_g) * cin_g + cil
        out = np.ravel_multi_index((co[valid], *(x[valid] for x in o)), (c_out, *sp_out))
        inp = np.ravel_multi_index((ci[valid], *(x[valid] for x in pos)), (c_in, *sp_in))
        w = np.ravel_multi_index((co[valid], cil[valid], *(x[valid] for x in k)),
                                 self.weight_shape())
        return out, inp, w

    def taps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(output index, input index, weight index) of every connection, int64 arrays."""
        return self._taps

    def connections(self) -> int:
        return int(self._taps[0].size)

    def fan_out(self, params=None) -> np.ndarray:
        """Connections per input element (d_in,), int64."""
        return np.bincount(self._taps[1], minlength=self.d_in).astype(np.int64)

    def kernel_weights(self, params) -> np.ndarray:
        return np.ones(self.weight_shape())

    def unrolled(self, params=None) -> tuple[np.ndarray, np.ndarray]:
        """(M float64 (d_out, d_in), connections uint8 (d_out, d_in)): y = M x (+ bias)."""
        out, inp, w = self._taps
        M = np.zeros((self.d_out, self.d_in))
        M[out, inp] = np.asarray(self.kernel_weights(params), np.float64).reshape(-1)[w]
        C = np.zeros((self.d_out, self.d_in), np.uint8)
        C[out, inp] = 1
        return M, C

    def apply_numpy(self, x: np.ndarray, params=None) -> np.ndarray:
        """The equation in NumPy float64 (one product per connection)."""
        out, inp, w = self._taps
        W = np.asarray(self.kernel_weights(params), np.float64).reshape(-1)
        y = np.zeros(self.d_out)
        np.add.at(y, out, W[w] * np.asarray(x, np.float64)[inp])
        if params is not None and "bias" in params:
            y = y + np.repeat(np.asarray(params["bias"], np.float64),
                              self.d_out // self.channels_out)
        return y

    def _bias_acs(self) -> int:
        return 0

    def _arith(self, n: int | float) -> Counts:
        return Counts(macs=n, dense_macs=self.connections())

    def counts(self, spike_sum=None):
        b = self._bias_acs()
        if self.spiking:
            if spike_sum is None:
                raise IRError(f"{self.op_type}.counts needs spike_sum = sum_j |s_j| of its "
                              "input")
            events = spike_sum * self.connections() / self.d_in
            return Counts(acs=events + b, dense_macs=self.connections(), dense_acs=b)
        return self._arith(self.connections()).replace(acs=b, dense_acs=b)

    def dense_work(self):
        return self.connections() + self._bias_acs()


@dataclass(frozen=True, kw_only=True)
class _Conv(_Windowed):
    c_out: int
    dilation: tuple[int, ...]
    groups: int = 1
    has_bias: bool = False

    @property
    def channels_out(self) -> int:
        return self.c_out

    @property
    def groups_(self) -> int:
        return self.groups

    @property
    def dilation_(self) -> tuple[int, ...]:
        return self.dilation

    def verify(self) -> None:
        Op.verify(self)
        self._positive("c_out", "groups")
        if len(self.dilation) != self.NDIM or min(self.dilation) < 1:
            raise IRError(f"{self.op_type}.dilation must be {self.NDIM} positive ints, got "
                          f"{self.dilation!r}")
        if self.input_shape and (self.input_shape[0] % self.groups or self.c_out % self.groups):
            raise IRError(f"{self.op_type}.groups {self.groups} must divide the input channels "
                          f"{self.input_shape[0]} and c_out {self.c_out}")
        _Windowed.verify(self)

    def param_shapes(self):
        p = {"weight": (self.weight_shape(), FLOAT_DTYPES)}
        if self.has_bias:
            p["bias"] = ((self.c_out,), FLOAT_DTYPES)
        return p

    def kernel_weights(self, params) -> np.ndarray:
        return np.asarray(params["weight"], np.float64)

    def _bias_acs(self) -> int:
        return self.d_out if self.has_bias else 0


@dataclass(frozen=True, kw_only=True)
class Conv1d(_Conv):
    """y = conv1d(x reshaped to (C_in, L)) flattened (module docstring); weight (c_out,
    C_in / groups, k), bias (c_out,) when has_bias."""

    op_type: ClassVar[str] = "Conv1d"
    NDIM: ClassVar[int] = 1


@dataclass(frozen=True, kw_only=True)
class Conv2d(_Conv):
    """y = conv2d(x reshaped to (C_in, H, W)) flattened (module docstring); weight (c_out,
    C_in / groups, kh, kw), bias (c_out,) when has_bias."""

    op_type: ClassVar[str] = "Conv2d"
    NDIM: ClassVar[int] = 2


@dataclass(frozen=True, kw_only=True)
class SumPool2d(_Windowed):
    """y[c, o] = sum over the window of x[c, o s - p + k] (x reshaped to (C, H, W), the padding
    zero); flattened (module docstring). No parameters."""

    op_type: ClassVar[str] = "SumPool2d"
    NDIM: ClassVar[int] = 2

    def _arith(self, n):
        return Counts(acs=n, dense_acs=self.connections())

    def counts(self, spike_sum=None):
        if self.spiking:
            return super().counts(spike_sum).replace(dense_macs=0,
                                                     dense_acs=self.connections())
        return Counts(acs=self.connections(), dense_acs=self.connections())


CONV_OPS = (Conv1d, Conv2d, SumPool2d)
