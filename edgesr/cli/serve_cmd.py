"""``edgesr serve``: an engine as a Triton Inference Server model (PyTriton), for ``--engine triton://``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgesr.paths import input_file


def serve(
    engine: Path | None = typer.Option(
        None, "--engine", "-e", help="Engine (with its .json sidecar) or edgesr ONNX. Default: the shipped model."
    ),
    port: int = typer.Option(8001, "--port", "-p", help="Triton gRPC port (clients: triton://HOST:PORT/NAME)."),
    http_port: int = typer.Option(8000, help="Triton HTTP port (clients: triton+http://HOST:PORT/NAME)."),
    name: str = typer.Option("edgesr", help="Model name on the server."),
    listen: str = typer.Option("127.0.0.1", help="Bind address. Anything but loopback needs --insecure-no-auth."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve beyond loopback although Triton has no authentication."
    ),
    max_batch: int | None = typer.Option(
        None, help="Largest batch Triton's dynamic batcher forms. Default: the engine's max batch (8 for an ONNX)."
    ),
    queue_delay_us: int = typer.Option(2000, help="How long the batcher waits for more requests, microseconds."),
    threads: int | None = typer.Option(None, help="ONNX Runtime intra-op threads (CPU provider)."),
) -> None:
    """Serve an engine through Triton Inference Server (gRPC + HTTP, dynamic batching) until Ctrl-C."""
    from edgesr.runtime.triton_serve import ServeConfig
    from edgesr.runtime.triton_serve import serve as run_serve

    if engine is None:
        from edgesr.pretrained import default_onnx

        engine = default_onnx()
    input_file(engine, "--engine")
    cfg = ServeConfig(
        engine=engine, name=name, grpc_port=port, http_port=http_port, listen=listen,
        insecure_no_auth=insecure_no_auth, max_batch=max_batch, queue_delay_us=queue_delay_us, threads=threads,
    )
    run_serve(cfg, ready=lambda line: typer.echo(line, err=True))
