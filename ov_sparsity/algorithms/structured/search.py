"""Widths per group under a latency budget (SPDY/HALP's solve over measured costs).

Each group g offers widths j with a measured latency saving s_g(j) (ms below its dense width, from
latency.width_table) and an accuracy cost c_g(j) (the structured OBS cost of removing that many
channels, relative). The DP picks one width per group minimising Σ c_g(j) with Σ s_g(j) ≥ the
saving needed, on savings discretised into `buckets` units (the last bucket: "enough"). Savings are
floored to whole units, so a choice never promises more than was measured; it is optimal among the
choices that clear the need by one unit per group.
"""

from __future__ import annotations

import numpy as np


def choose_widths(savings: dict, costs: dict, need: float, buckets: int = 400) -> dict:
    """{group: index into its widths} with Σ savings ≥ need at the least Σ costs (index 0: dense).
    Where even the largest savings fall short, every group takes its largest-saving width."""
    names = list(savings)
    if need <= 0:
        return {n: 0 for n in names}
    unit = need / buckets
    prev = np.full(buckets + 1, np.inf)
    prev[0] = 0.0
    picks = []
    for n in names:
        new = np.full(buckets + 1, np.inf)
        pick = np.zeros((buckets + 1, 2), np.int64)  # (width index, predecessor bucket)
        for j, (saving, c) in enumerate(zip(savings[n], np.asarray(costs[n], np.float64))):
            s = int(min(np.floor(max(float(saving), 0.0) / unit), buckets))
            # uncapped moves b -> b + s, unique per b
            src = np.arange(buckets + 1 - s)
            vals = prev[src] + c
            better = vals < new[src + s]
            idx = (src + s)[better]
            new[idx] = vals[better]
            pick[idx] = np.stack([np.full(idx.size, j), src[better]], axis=1)
            if s > 0:  # moves that overshoot the need land in the last bucket
                tail = np.arange(buckets + 1 - s, buckets + 1)
                k = int(tail[np.argmin(prev[tail])])
                if prev[k] + c < new[buckets]:
                    new[buckets], pick[buckets] = prev[k] + c, (j, k)
        prev = new
        picks.append(pick)
    if not np.isfinite(prev[buckets]):
        return {n: int(np.argmax(savings[n])) for n in names}
    b, choice = buckets, {}
    for n, pick in zip(reversed(names), reversed(picks)):
        j, b_prev = pick[b]
        choice[n] = int(j)
        b = int(b_prev)
    return choice
