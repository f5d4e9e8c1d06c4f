"""Simulated users × items ratings for the large crossed benchmarks (issue 14; never committed).

``ratings(n, n_users, n_items)`` draws n ratings ``y = 3.5 + u[user] + v[item] + ε``
(u ~ N(0, 0.5²), v ~ N(0, 0.7²), ε ~ N(0, 1)):

* each user rates between 5 and 100 distinct items, the counts drawn as
  5 + a geometric number with the mean that makes them sum to about n, clipped
  at 100, and then moved one at a time (at random users still inside 5–100)
  until they sum to exactly n;
* a user's items are drawn without replacement with popularity
  ∝ 1/(rank + 100)^0.9 (rank 0 the most popular item), so a few hundred items
  carry a large share of the ratings and the tail is rated a few times each.

``ratings(1_000_000, 60_000, 8_000)`` and ``ratings(2_000_000, 200_000, 20_000)`` are
issue 14's two models, fitted as ``y ~ 1 + (1 | user) + (1 | item)`` (ML).  The seed is
fixed so every run fits the same data; items never drawn do not appear as levels.

Examples
--------
>>> d = ratings(2_000, 150, 80)
>>> len(d), int(d.groupby("user", observed=True).size().min()) >= 5
(2000, True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA = "y ~ 1 + (1 | user) + (1 | item)"
SEED = 20261203
MIN_RATINGS, MAX_RATINGS = 5, 100


def ratings(n: int, n_users: int, n_items: int, seed: int = SEED) -> pd.DataFrame:
    """The data frame (y, user, item) with categorical user and item."""
    rng = np.random.default_rng(seed)
    counts = _ratings_per_user(n, n_users, rng)
    user = np.repeat(np.arange(n_users), counts)
    item = _distinct_items(user, _popularity(n_items), rng)
    u = rng.normal(size=n_users) * 0.5
    v = rng.normal(size=n_items) * 0.7
    y = 3.5 + u[user] + v[item] + rng.normal(size=n)
    used = np.unique(item)   # items nobody rated are not levels (as read from a file)
    return pd.DataFrame({
        "y": y,
        "user": pd.Categorical.from_codes(user, [f"u{i}" for i in range(n_users)]),
        "item": pd.Categorical.from_codes(np.searchsorted(used, item),
                                          [f"i{i}" for i in used]),
    })


def _ratings_per_user(n: int, n_users: int, rng: np.random.Generator) -> np.ndarray:
    """Counts in [5, 100] summing to n."""
    if not MIN_RATINGS * n_users <= n <= MAX_RATINGS * n_users:
        raise ValueError(f"{n} ratings cannot come from {n_users} users rating 5-100 items each")
    extra = n / n_users - MIN_RATINGS
    counts = MIN_RATINGS + rng.geometric(1 / (extra + 1), n_users) - 1
    counts = np.clip(counts, MIN_RATINGS, MAX_RATINGS)
    while (gap := n - int(counts.sum())) != 0:
        room = counts < MAX_RATINGS if gap > 0 else counts > MIN_RATINGS
        chosen = rng.choice(np.flatnonzero(room), min(abs(gap), int(room.sum())), replace=False)
        counts[chosen] += np.sign(gap)
    return counts


def _popularity(n_items: int) -> np.ndarray:
    weights = 1.0 / (np.arange(n_items) + 100.0) ** 0.9
    return weights / weights.sum()


def _distinct_items(user: np.ndarray, popularity: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """One item per row, drawn by popularity, distinct within each user (repeats redrawn)."""
    cumulative = np.cumsum(popularity)
    item = np.searchsorted(cumulative, rng.random(len(user)) * cumulative[-1])
    while True:
        order = np.lexsort((item, user))
        repeat = np.zeros(len(user), dtype=bool)
        repeat[order[1:]] = (user[order[1:]] == user[order[:-1]]) & \
            (item[order[1:]] == item[order[:-1]])
        if not repeat.any():
            return item
        item[repeat] = np.searchsorted(cumulative, rng.random(int(repeat.sum())) * cumulative[-1])
