"""Live accuracy checks: every N-th frame also goes through the FP32 reference (the FP32 ONNX under ONNX
Runtime), OFF the hot path, and the PSNR of the engine's output against the reference's is recorded
(RGB uint8, [0, 255], ``edgesr.compare``: the comparison the gate and the bench make).

The reference runs in its own worker thread with a one-slot mailbox: if it is still busy with the
previous check when the next one is due, that check is skipped and counted, never queued, so a slow
reference cannot stall or grow the stream. ``min_psnr`` warns on every check below it, naming the frame's worst
region (``edgesr.regions.worst_tile``: tile coordinates in output pixels and its PSNR, also kept in the report's
``psnr.below_min_worst_regions``), so an operator sees whether a burnt-in overlay or the scene is off; ``fail_below``
ends the run (``AccuracyGateError``, exit 3) when the running mean falls under it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgesr.compare import as_image, compare
from edgesr.errors import AccuracyGateError
from edgesr.regions import worst_tile
from edgesr.runtime.runner import Runner
from edgesr.runtime.stats import PsnrLog

DEFAULT_EVERY = 30


@dataclass(frozen=True)
class CheckConfig:
    every: int = DEFAULT_EVERY  # 0: no checks
    min_psnr: float | None = None
    fail_below: float | None = None


class ReferenceCheck:
    """Owns the reference runner and its worker thread."""

    def __init__(
        self,
        reference: Runner,
        config: CheckConfig,
        log: PsnrLog,
        warn: Callable[[str], None],
    ) -> None:
        self.reference, self.config, self.log, self.warn = reference, config, log, warn
        self.failure: AccuracyGateError | None = None
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._job: tuple[int, np.ndarray, np.ndarray] | None = None
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="edgesr-reference-check", daemon=True)
        self._thread.start()

    def due(self, index: int) -> bool:
        return self.config.every > 0 and index % self.config.every == 0

    def offer(self, index: int, x: np.ndarray, sr: np.ndarray) -> bool:
        """Hand frame ``index`` (the NCHW input the engine ran, its output as uint8 RGB) to the reference;
        False if skipped."""
        with self._cond:
            if self._busy or self._job is not None:
                self.log.skipped_busy += 1
                return False
            self._job = (index, x, sr)
            self._cond.notify_all()
            return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closing:
                    self._cond.wait()
                if self._job is None:
                    return
                job, self._job = self._job, None
                self._busy = True
            try:
                self._check(*job)
            except BaseException as exc:  # reported by the pipeline, never swallowed
                self.error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _check(self, index: int, x: np.ndarray, sr: np.ndarray) -> None:
        out, ref = as_image(sr), as_image(self.reference.infer(x))
        value = compare(out, ref).psnr_vs_reference
        cfg = self.config
        below = cfg.min_psnr is not None and value < cfg.min_psnr
        tile = worst_tile(out, ref) if below else None  # where: the overlay or the scene
        with self._cond:
            self.log.add(index, value, cfg.min_psnr, tile.to_dict() if tile else None)
            mean = self.log.mean
        if tile is not None:
            self.warn(
                f"frame {index}: PSNR vs FP32 reference {value:.2f} dB is below --min-psnr {cfg.min_psnr:g}; "
                f"worst region {tile.describe()} of the {out.shape[1]}x{out.shape[0]} output"
            )
        if cfg.fail_below is not None and not math.isnan(mean) and mean < cfg.fail_below:
            self.failure = AccuracyGateError(
                f"stream accuracy check failed: mean PSNR vs the FP32 reference is {mean:.2f} dB over "
                f"{self.log.count} checks, below --fail-below {cfg.fail_below:g} (last: frame {index}, {value:.2f} dB)"
            )

    def close(self, wait: bool = True) -> None:
        """Finish the check in progress (when ``wait``) and stop the worker."""
        with self._cond:
            if not wait:
                self._job = None
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self.reference.close()
