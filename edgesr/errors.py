"""The one error family of edgesr.

Every failure a user can cause (bad input, a missing package, an artifact built for
something else, an accuracy gate that says no) is an ``EdgeSRError``. The CLI maps it
to a single ``error: ...`` line and the exit code below; ``EDGESR_DEBUG=1`` shows the
traceback as well.
"""

from __future__ import annotations


class EdgeSRError(Exception):
    """Base class: a problem the user can act on. ``str(err)`` is one line."""

    exit_code = 1


class UsageError(EdgeSRError):
    """Conflicting or impossible flags. Refused, never silently corrected."""

    exit_code = 2


class EdgeSRWarning(UserWarning):
    """Something the user should know that does not stop the command; the CLI prints it as one line."""


class BadInputError(EdgeSRError):
    """An image, video, folder, checkpoint or config that cannot be used."""


class MissingDependencyError(EdgeSRError):
    """An optional package is needed; the message says how to install it."""

    def __init__(self, package: str, extra: str | None = None, why: str = "") -> None:
        hint = f"pip install 'edgesr[{extra}]'" if extra else f"pip install {package}"
        reason = f" ({why})" if why else ""
        super().__init__(f"{package} is not installed{reason}: {hint}")
        self.package = package
        self.extra = extra


class IncompatibleArtifactError(EdgeSRError):
    """A checkpoint, ONNX or engine that does not match what is asked of it."""


class AccuracyGateError(EdgeSRError):
    """A precision variant failed its accuracy gate (or a stream check failed)."""

    exit_code = 3


class DeviceError(EdgeSRError):
    """A camera, GPU or stream that is missing or went away."""


def require(module: str, extra: str | None = None, why: str = ""):  # type: ignore[no-untyped-def]
    """Import an optional module by name or raise ``MissingDependencyError``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from edgesr import interrupts

        if interrupts.received():  # a signal inside a package's import can surface as an ImportError
            raise interrupts.interruption() from None
        package = {"cv2": "opencv-python-headless", "skimage": "scikit-image", "av": "av"}.get(
            module.split(".")[0], module.split(".")[0]
        )
        raise MissingDependencyError(package, extra, why) from exc
