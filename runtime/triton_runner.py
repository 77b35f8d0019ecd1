"""``--engine triton://HOST:PORT/MODEL[/VERSION]``: a remote Triton Inference Server behind the one ``Runner``
contract (tritonclient; gRPC by default, ``triton+http://`` for the HTTP/REST endpoint).

The model describes itself as every edgesr artifact does: its ``config.pbtxt`` carries the spec and precision
as parameters (``edgesr.spec``, ``edgesr.precision``), written by ``edgesr build-engine --triton-repo`` and by
``edgesr serve``. A model edgesr cannot describe is refused in one line. A server that goes away mid-stream
is retried with backoff, like a lost camera, for ``retry_s`` seconds before the run ends with the reason.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edgesr.artifact import INPUT_NAME, OUTPUT_NAME, PRECISIONS
from edgesr.backends import backend
from edgesr.errors import BadInputError, DeviceError, IncompatibleArtifactError, UsageError, require
from edgesr.runtime.runner import Runner
from edgesr.spec import ModelSpec

DEFAULT_PORTS = {"grpc": 8001, "http": 8000}
SPEC_PARAM = "edgesr.spec"
PRECISION_PARAM = "edgesr.precision"
FORM = "triton://HOST:PORT/MODEL[/VERSION] (triton+http:// for Triton's HTTP endpoint)"


@dataclass(frozen=True)
class TritonAddress:
    protocol: str  # grpc | http
    host: str
    port: int
    model: str
    version: str  # "" = the server's version policy (latest)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        scheme = "triton" if self.protocol == "grpc" else "triton+http"
        return f"{scheme}://{self.url}/{self.model}" + (f"/{self.version}" if self.version else "")


def require_client() -> None:
    """Raises the one-line install hint where tritonclient is missing."""
    require("tritonclient.grpc", extra="triton", why="needed for triton:// engines")


def parse_triton_uri(text: str) -> TritonAddress:
    """``triton://HOST[:PORT]/MODEL[/VERSION]``; one ``UsageError`` line naming the form otherwise."""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    protocol = "http" if scheme == "triton+http" else "grpc"
    if scheme not in backend("triton").schemes:
        raise UsageError(f"{text}: not a Triton address; expected {FORM}")
    if parts.username or parts.password:
        raise UsageError(f"{parts.scheme}://{parts.hostname}...: credentials in a Triton address are not supported")
    try:
        port = parts.port or DEFAULT_PORTS[protocol]
    except ValueError:
        raise UsageError(f"{text}: bad port; expected {FORM}") from None
    names = [p for p in parts.path.split("/") if p]
    if not parts.hostname or not 1 <= len(names) <= 2 or parts.query or parts.fragment:
        raise UsageError(f"{text}: expected {FORM}")
    version = names[1] if len(names) == 2 else ""
    if version and not version.isdigit():
        raise UsageError(f"{text}: the model version must be a number, got {version!r}")
    return TritonAddress(protocol, parts.hostname, port, names[0], version)


def _first_line(exc: BaseException) -> str:
    """One line of an error; a server-side edgesr error (PyTriton sends the whole traceback) is its message."""
    text = str(exc).strip() or type(exc).__name__
    found = re.search(r"edgesr\.errors\.\w+: (.+?)(?:\\n|\n|$)", text)
    return (found.group(1) if found else text.splitlines()[0])[:300]


def _unreachable(exc: BaseException) -> bool:
    """A transport failure (server down, connection refused or cut), as opposed to a refused request."""
    if isinstance(exc, (OSError, ConnectionError)):
        return True
    status = str(getattr(exc, "status", lambda: "")() or "")
    text = _first_line(exc).lower()
    # NOT_FOUND "has no available versions": the server is unloading (shutting down) or loading the model
    return "unavailable" in status.lower() or any(
        w in text for w in ("unavailable", "connection refused", "failed to connect", "connection reset",
                            "broken pipe", "socket closed", "connect failed", "deadline", "no available versions")
    )


def model_description(config: dict[str, Any], where: str) -> tuple[ModelSpec, str]:
    """Spec and precision from a Triton model config (``get_model_config(..., as_json=True)``)."""
    params = config.get("parameters") or {}
    raw = (params.get(SPEC_PARAM) or {}).get("string_value")
    if not raw:
        raise IncompatibleArtifactError(
            f"{where} carries no edgesr model spec (config parameter {SPEC_PARAM!r}): serve a repository written "
            "by `edgesr build-engine --triton-repo`, or the model with `edgesr serve`"
        )
    try:
        spec = ModelSpec.from_json(raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise IncompatibleArtifactError(f"{where}: malformed {SPEC_PARAM}: {_first_line(exc)}") from None
    precision = (params.get(PRECISION_PARAM) or {}).get("string_value", "fp32")
    if precision not in PRECISIONS:
        raise IncompatibleArtifactError(f"{where}: unknown precision {precision!r} in {PRECISION_PARAM}")
    names_in = [t.get("name") for t in config.get("input", [])]
    names_out = [t.get("name") for t in config.get("output", [])]
    if INPUT_NAME not in names_in or OUTPUT_NAME not in names_out:
        raise IncompatibleArtifactError(
            f"{where} has inputs {names_in} and outputs {names_out}; an edgesr model has {INPUT_NAME!r} -> "
            f"{OUTPUT_NAME!r}"
        )
    return spec, precision


class TritonRunner(Runner):
    """One model on a Triton server. ``infer`` sends the batch as one request: Triton's dynamic batcher joins
    requests of the same shape from every client (several streams, several boxes) into one execution."""

    backend = "triton"
    profile = None

    def __init__(
        self,
        uri: str,
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
        reconnect_s: float = 10.0,
        timeout_s: float = 60.0,
    ) -> None:
        if providers or threads:
            raise UsageError("--providers/--threads apply to a local ONNX Runtime engine, not a Triton server")
        retry_s = reconnect_s
        self.address = parse_triton_uri(uri)
        self.path = Path(self.address.model)
        self.retry_s, self.timeout_s = float(retry_s), float(timeout_s)
        self.sidecar = None
        self.reconnects = 0
        self.warnings: list[str] = []
        module = "tritonclient.grpc" if self.address.protocol == "grpc" else "tritonclient.http"
        self._tc = require(module, extra="triton", why="needed for triton:// engines")
        self._utils = require("tritonclient.utils", extra="triton", why="needed for triton:// engines")
        self._local = threading.local()  # one client per thread: the HTTP client (gevent) is bound to its thread
        self._opened: list[Any] = []
        where = f"Triton model {self.address}"
        try:
            if not self._client.is_model_ready(self.address.model, self.address.version):
                raise BadInputError(f"{where} is not ready on the server{self._ready_models()}")
            config = self._json(self._client.get_model_config, self.address.model, self.address.version)
        except self._utils.InferenceServerException as exc:
            raise BadInputError(f"{where}: {_first_line(exc)}") from None
        config = config.get("config", config)  # gRPC wraps it in {"config": ...}
        self.spec, self.precision = model_description(config, where)
        self._max_batch = int(config.get("max_batch_size") or 0)
        if self._max_batch < 1:
            raise IncompatibleArtifactError(f"{where} has max_batch_size 0: edgesr sends NCHW batches")

    @property
    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._connect()
        return client

    def _connect(self) -> Any:
        try:
            client = self._tc.InferenceServerClient(url=self.address.url)
            self._opened.append(client)
            if not client.is_server_live():
                raise DeviceError(f"Triton at {self.address.url} is not live")
            return client
        except Exception as exc:
            if isinstance(exc, DeviceError):
                raise
            raise DeviceError(f"cannot reach Triton at {self.address.url}: {_first_line(exc)}") from None

    def _json(self, call: Any, *args: str) -> Any:
        """gRPC answers protobuf unless asked for JSON; HTTP answers JSON and has no such switch."""
        return call(*args, as_json=True) if self.address.protocol == "grpc" else call(*args)

    def _ready_models(self) -> str:
        """`` (ready: a, b)``, or nothing where the server keeps its repository index to itself."""
        try:
            index = self._json(self._client.get_model_repository_index)
        except self._utils.InferenceServerException:
            return ""
        models = index.get("models", index) if isinstance(index, dict) else index
        ready = sorted({m.get("name", "?") for m in models if m.get("state") == "READY"})
        return f" (ready: {', '.join(ready) or 'none'})"

    @property
    def max_batch(self) -> int | None:
        """The model's ``max_batch_size``: Triton refuses larger requests."""
        return self._max_batch

    def _request(self, x: np.ndarray) -> np.ndarray:
        inp = self._tc.InferInput(INPUT_NAME, list(x.shape), "FP32")
        inp.set_data_from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        out = self._tc.InferRequestedOutput(OUTPUT_NAME)
        kwargs: dict[str, Any] = {"model_version": self.address.version, "outputs": [out]}
        if self.address.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout_s
        result = self._client.infer(self.address.model, [inp], **kwargs)
        return np.asarray(result.as_numpy(OUTPUT_NAME), dtype=np.float32)

    def _infer(self, x: np.ndarray) -> np.ndarray:
        lost_at: float | None = None
        delay = 0.25
        while True:
            try:
                if lost_at is not None:
                    self._local.client = self._connect()
                y = self._request(x)
                if lost_at is not None:
                    self.reconnects += 1
                    self.warnings.append(f"{self.address} back after {time.monotonic() - lost_at:.1f} s")
                return y
            except Exception as exc:
                if not _unreachable(exc):
                    raise BadInputError(f"{self.address} refused input {x.shape}: {_first_line(exc)}") from None
                now = time.monotonic()
                lost_at = now if lost_at is None else lost_at
                if now - lost_at >= self.retry_s:
                    raise DeviceError(
                        f"{self.address} lost: no answer for {self.retry_s:g} s (retried with backoff): "
                        f"{_first_line(exc)}"
                    ) from None
                time.sleep(min(delay, max(0.0, self.retry_s - (now - lost_at))))
                delay = min(delay * 2, 2.0)

    def close(self) -> None:
        opened, self._opened = getattr(self, "_opened", []), []
        for client in opened:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a dead connection, or a client of another thread
                pass

    @property
    def location(self) -> str:
        return str(self.address)

    def describe(self) -> str:
        return f"triton {self.precision} {self.spec.describe()} [{self.address}]"


def spec_parameters(spec: ModelSpec, precision: str) -> dict[str, str]:
    """The parameters that make a Triton model describe itself to ``TritonRunner``."""
    return {SPEC_PARAM: spec.to_json(), PRECISION_PARAM: precision}
