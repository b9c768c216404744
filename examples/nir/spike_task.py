"""A synthetic spike-pattern classification task that needs no download.

Class c has a fixed rate pattern r_c over the n inputs (each rate drawn uniformly in
[0, max_rate]). A sample of class c mixes it with a fresh random pattern u (same
distribution) and emits Bernoulli spikes every step:

    p = (1 - noise) r_c + noise u,        x[t, j] ~ Bernoulli(p_j),   t = 0 .. T-1

so x is a (T, n) array of 0/1 spike counts. `noise` in [0, 1] sets how hard the task is
(0: the class pattern alone, 1: chance). Everything follows from one seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpikeTask:
    """The task's size: classes, inputs, steps per sample, rate range and noise mix."""

    classes: int = 10
    inputs: int = 100
    steps: int = 40
    max_rate: float = 0.3
    noise: float = 0.7

    def patterns(self, seed: int) -> np.ndarray:
        """The class rate patterns r (classes, inputs)."""
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, self.max_rate, (self.classes, self.inputs))

    def sample(self, n: int, seed: int, patterns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """n samples: spikes x (n, steps, inputs) int64 in {0, 1} and labels y (n,) int64,
        the classes balanced (cycled) and shuffled."""
        rng = np.random.default_rng(seed)
        y = rng.permutation(np.arange(n) % self.classes)
        u = rng.uniform(0.0, self.max_rate, (n, self.inputs))
        p = (1.0 - self.noise) * patterns[y] + self.noise * u
        x = rng.random((n, self.steps, self.inputs)) < p[:, None, :]
        return x.astype(np.int64), y.astype(np.int64)
