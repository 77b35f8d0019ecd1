"""Latency percentiles in constant memory, exact to one 1 % bin."""

from __future__ import annotations

import numpy as np

from edgesr.runtime.stats import LatencyHistogram, PsnrLog


def test_histogram_quantiles_match_numpy_within_one_bin(rng: np.random.Generator) -> None:
    samples = rng.lognormal(mean=np.log(0.02), sigma=0.8, size=20000)
    h = LatencyHistogram()
    for s in samples:
        h.add(float(s))
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(samples, q, method="inverted_cdf"))
        assert abs(h.quantile(q) - exact) <= 0.0101 * exact
    assert h.counts.size == LatencyHistogram.BINS  # memory does not grow with samples
    s = h.summary_ms()
    assert s["count"] == 20000 and abs(s["mean"] - samples.mean() * 1e3) < 1e-6 * 1e3


def test_psnr_log_is_bounded_and_json_safe() -> None:
    log = PsnrLog(keep=3)
    for i, v in enumerate([40.0, float("inf"), 42.0, 44.0, 46.0]):
        log.add(i, v, min_psnr=41.0)
    d = log.to_dict()
    assert d["checks"] == 5 and d["identical"] == 1 and d["below_min_psnr"] == 1
    assert d["mean_db"] == 43.0 and d["worst_db"] == 40.0
    assert [v["frame"] for v in d["values"]] == [2, 3, 4]
    assert PsnrLog().to_dict()["mean_db"] is None
