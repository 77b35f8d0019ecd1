"""Issue 9, classes 1, 2 and 4: every path option, every numeric option and every output that could be an
input, over every command, is one ``error:`` line and exit 2 before any work, and nothing is left behind.

A new option is covered by adding one line to FILE_OUTPUTS, DIR_OUTPUTS, NUMBERS or OUTPUT_IS_INPUT.
``{X}`` in the arguments is replaced by the path under test, the other ``{...}`` by the fixture files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tinymodel
from export_helpers import cli, one_line_error

from edgesr.imageops import save_image
from edgesr.spec import edge_xs

ENGINE = ["--engine", "{onnx}", "--source", "{imgdir}"]

# (label, arguments, suffix of the file under test)
FILE_OUTPUTS = [
    ("upscale -o", ["upscale", "{img}", "-o", "{X}"], ".png"),
    ("eval --json", ["eval", "--bicubic", "--data", "{imgdir}", "--json", "{X}"], ".json"),
    ("export -o", ["export", "{ckpt}", "-o", "{X}"], ".onnx"),
    ("build-engine -o", ["build-engine", "{onnx}", "--backend", "onnxruntime", "-o", "{X}"], ".ort.onnx"),
    ("build-engine --timing-cache", ["build-engine", "{onnx}", "--backend", "onnxruntime", "--timing-cache", "{X}"],
     ".cache"),
    ("stream -o video", ["stream", *ENGINE, "-o", "{X}"], ".mp4"),
    ("stream --report", ["stream", *ENGINE, "-o", "none", "--report", "{X}"], ".json"),
]
# (label, arguments): folders a command creates and writes into
DIR_OUTPUTS = [
    ("train --out", ["train", "--out", "{X}", "--steps", "1"]),
    ("eval --save-images", ["eval", "--bicubic", "--data", "{imgdir}", "--save-images", "{X}"]),
    ("bench -o", ["bench", "-m", "{onnx}", "-o", "{X}"]),
    ("demo -o", ["demo", "-o", "{X}"]),
    ("stream -o DIR", ["stream", *ENGINE, "-o", "{X}"]),
]
# (arguments, words the one error line must hold)
NUMBERS = [
    (["upscale", "{img}", "-o", "{out}/u.png", "--tile", "1"], "--tile"),
    (["upscale", "{img}", "-o", "{out}/u.png", "--tile", "-3"], "--tile"),
    (["upscale", "{img}", "-o", "{out}/u.png", "--device", "tpu"], "--device"),
    (["upscale", "{img}", "-o", "{out}/u.xyz"], "unknown image format"),
    (["eval", "--bicubic", "--data", "{imgdir}", "--scale", "0"], "--scale"),
    (["eval", "--bicubic", "--data", "{imgdir}", "--device", "tpu"], "--device"),
    (["export", "{ckpt}", "-o", "{out}/e.onnx", "--parity-size", "0x0"], "--parity-size"),
    (["export", "{ckpt}", "-o", "{out}/e.onnx", "--opset", "3"], "--opset"),
    (["export", "{ckpt}", "-o", "{out}/e.onnx", "--min-parity-psnr", "nan"], "--min-parity-psnr"),
    (["build-engine", "{onnx}", "-o", "{out}/b.ort.onnx", "--min-psnr", "-5"], "--min-psnr"),
    (["build-engine", "{onnx}", "-o", "{out}/b.ort.onnx", "--workspace", "-5"], "--workspace"),
    (["build-engine", "{onnx}", "-o", "{out}/b.ort.onnx", "--max-batch", "0"], "--max-batch"),
    (["build-engine", "{onnx}", "-o", "{out}/b.ort.onnx", "--min-shape", "0x0"], "--min-shape"),
    (["build-engine", "{onnx}", "-o", "{out}/b.ort.onnx", "--opt-shape", "99999x4"], "--opt-shape"),
    (["build-engine", "{onnx}", "-o", "{out}/b.ort.onnx", "--int8", "--calib-images", "0"], "--calib-images"),
    (["build-engine", "{onnx}", "-o", "{out}/b.ort.onnx", "--dla-core", "-1"], "--dla-core"),
    (["stream", *ENGINE, "-o", "none", "--fail-below", "nan"], "--fail-below"),
    (["stream", *ENGINE, "-o", "none", "--min-psnr", "-5"], "--min-psnr"),
    (["stream", *ENGINE, "-o", "none", "--threads", "-2"], "--threads"),
    (["stream", *ENGINE, "-o", "none", "--reconnect", "-1"], "--reconnect"),
    (["stream", *ENGINE, "-o", "none", "--reconnect", "inf"], "--reconnect"),
    (["stream", *ENGINE, "-o", "none", "--capture-size", "0x0"], "--capture-size"),
    (["stream", *ENGINE, "-o", "none", "--capture-fps", "-30"], "--capture-fps"),
    (["stream", *ENGINE, "-o", "none", "--tile", "1"], "--tile"),
    (["stream", *ENGINE, "-o", "none", "--tile", "32", "--tile-overlap", "16"], "--tile-overlap"),
    (["stream", *ENGINE, "-o", "none", "--tile-overlap", "-1"], "--tile-overlap"),
    (["stream", *ENGINE, "-o", "none", "--check-every", "-1"], "--check-every"),
    (["stream", *ENGINE, "-o", "none", "--max-frames", "0"], "--max-frames"),
    (["stream", *ENGINE, "-o", "none", "--scale", "5"], "--scale"),
    (["bench", "-m", "{onnx}", "-o", "{out}/b", "--runs", "0"], "--runs"),
    (["bench", "-m", "{onnx}", "-o", "{out}/b", "--warmup", "-1"], "--warmup"),
    (["bench", "-m", "{onnx}", "-o", "{out}/b", "--threads", "0"], "--threads"),
    (["bench", "-m", "{onnx}", "-o", "{out}/b", "--sizes", "0x0"], "--sizes"),
    (["demo", "-o", "{out}/d", "--frames", "0"], "--frames"),
    (["demo", "-o", "{out}/d", "--train-steps", "-1"], "--train-steps"),
    (["train", "--out", "{out}/r", "--steps", "0"], "--steps"),
    (["train", "--out", "{out}/r", "--lr", "nan"], "--lr"),
    (["train", "--out", "{out}/r", "--scale", "0"], "--scale"),
    (["train", "--out", "{out}/r", "--batch", "-1"], "--batch"),
    (["train", "--out", "{out}/r", "--crop", "4", "--scale", "2"], "--crop"),
    (["train", "--out", "{out}/r", "--time-budget", "nan"], "--time-budget"),
    (["train", "--out", "{out}/r", "--config", "{toml}"], "steps"),
]
# (label, arguments): the output IS (or is inside) an input
OUTPUT_IS_INPUT = [
    ("upscale", ["upscale", "{img}", "-o", "{img}"]),
    ("eval --save-images", ["eval", "--bicubic", "--data", "{imgdir}", "--save-images", "{imgdir}"]),
    ("eval --json", ["eval", "--bicubic", "--data", "{imgdir}", "--json", "{imgdir}/a.png"]),
    ("export", ["export", "{onnx_ckpt}", "-o", "{onnx_ckpt}"]),
    ("build-engine", ["build-engine", "{onnx}", "--backend", "onnxruntime", "-o", "{onnx}"]),
    ("stream folder", ["stream", *ENGINE, "-o", "{imgdir}"]),
    ("stream folder inside", ["stream", *ENGINE, "-o", "{imgdir}/sr"]),
    ("stream video", ["stream", "--engine", "{onnx}", "--video", "{video}", "-o", "{video}"]),
    ("stream report", ["stream", "--engine", "{onnx}", "--video", "{video}", "-o", "none", "--report", "{video}"]),
    ("train", ["train", "--out", "{imgdir}", "--data", "{imgdir}", "--overwrite"]),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from export_helpers import tiny_checkpoint

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    imgdir = d / "images"
    for name in ("a", "b"):
        save_image(imgdir / f"{name}.png", rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    toml = d / "bad.toml"
    toml.write_text('steps = "many"\n')
    ckpt = tiny_checkpoint(d / "tiny.pt")
    onnx_ckpt = d / "ckpt.onnx"  # a checkpoint named .onnx: export -o onto it must be refused
    onnx_ckpt.write_bytes(ckpt.read_bytes())
    return {
        "img": imgdir / "a.png", "imgdir": imgdir, "ckpt": ckpt, "onnx_ckpt": onnx_ckpt, "toml": toml,
        "onnx": tinymodel.srresnet_onnx(d / "xs.onnx", edge_xs(4)),
        "video": tinymodel.write_video(d / "v.mp4", tinymodel.test_frames(3, 16, 16), audio=False),
    }


def _args(template: list[str], files: dict[str, Path], **extra: object) -> list[str]:
    values = {**{k: str(v) for k, v in files.items()}, **{k: str(v) for k, v in extra.items()}}
    return [a.format(**values) for a in template]


def _snapshot(*folders: Path) -> set[Path]:
    return {p for f in folders for p in f.rglob("*")}


def _refused(capsys: pytest.CaptureFixture[str], args: list[str], words: str, *watch: Path) -> str:
    before = _snapshot(*watch)
    code, _, err = cli(capsys, *args)
    line = one_line_error(err)
    assert code == 2, err
    assert words in line, line
    assert _snapshot(*watch) == before, "a refused command left files behind"
    return line


def _bad_file_paths(tmp: Path, suffix: str) -> list[tuple[str, Path, str]]:
    """(case, path, what the error names) for one file option."""
    (tmp / f"folder{suffix}").mkdir()
    (tmp / "plain").write_text("x")
    return [
        ("a folder", tmp / f"folder{suffix}", "is a folder"),
        ("parent is a file", tmp / "plain" / f"x{suffix}", "is a file, not a folder"),
        ("under /proc", Path("/proc/edgesr-test") / f"x{suffix}", "cannot write"),
    ]


@pytest.mark.parametrize("label,template,suffix", FILE_OUTPUTS, ids=[f[0] for f in FILE_OUTPUTS])
def test_file_outputs_are_checked_first(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path, label: str, template: list[str],
    suffix: str,
) -> None:
    option = label.split()[1]
    for case, path, words in _bad_file_paths(tmp_path, suffix):
        line = _refused(capsys, _args(template, files, X=path), words, tmp_path, files["imgdir"])
        assert option in line, case


@pytest.mark.parametrize("label,template", DIR_OUTPUTS, ids=[d[0] for d in DIR_OUTPUTS])
def test_folder_outputs_are_checked_first(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path, label: str, template: list[str]
) -> None:
    (tmp_path / "plain").write_text("x")
    cases = [
        (tmp_path / "plain", "is a file, not a folder"),
        (tmp_path / "plain" / "sub", "is a file, not a folder"),
        (Path("/proc/edgesr-test/out"), "cannot write"),
    ]
    for path, words in cases:
        line = _refused(capsys, _args(template, files, X=path), words, tmp_path, files["imgdir"])
        assert label.split()[1] in line, line


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only tmpfs needs root")
def test_read_only_filesystem(capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path) -> None:
    import subprocess

    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("this container does not allow mount")
    try:
        for _, template, suffix in FILE_OUTPUTS:
            _refused(capsys, _args(template, files, X=mnt / f"x{suffix}"), "read-only filesystem")
        for _, template in DIR_OUTPUTS:
            _refused(capsys, _args(template, files, X=mnt / "out"), "read-only filesystem")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("template,option", NUMBERS, ids=[f"{n[0][0]} {n[1]}" for n in NUMBERS])
def test_numeric_options_are_validated(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path, template: list[str], option: str
) -> None:
    _refused(capsys, _args(template, files, out=tmp_path), option, tmp_path)


@pytest.mark.parametrize("label,template", OUTPUT_IS_INPUT, ids=[o[0] for o in OUTPUT_IS_INPUT])
def test_output_that_is_an_input_is_refused(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], label: str, template: list[str]
) -> None:
    before = {p: p.read_bytes() for p in files["imgdir"].parent.rglob("*") if p.is_file()}
    _refused(capsys, _args(template, files), "input", files["imgdir"].parent)
    assert {p: p.read_bytes() for p in files["imgdir"].parent.rglob("*") if p.is_file()} == before


def test_parser_errors_are_short_and_name_the_option(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    for args, option in ((["stream", *ENGINE, "--threads", "abc"], "--threads"), (["eval", "--nope"], "--nope")):
        code, _, err = cli(capsys, *_args(args, files))
        assert code == 2 and option in err and len(err.strip().splitlines()) <= 8, err
