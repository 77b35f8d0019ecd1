"""One check for every path a command reads or writes, run by the CLI before any work starts.

A file where a folder is expected, a folder where a file is expected, a parent that is a file, a place
that cannot be written (permissions, a read-only filesystem, /proc) and an output that resolves to one
of the command's inputs are each one ``UsageError`` line (exit 2) naming the option, before anything is
loaded or written. Missing parent folders are fine: the command creates them.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from edgesr.errors import BadInputError, UsageError

PathLike = str | os.PathLike[str]


def _nearest_existing(p: Path) -> Path:
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def writable_place(folder: Path, option: str, create: bool = False) -> None:
    """THE writable-place probe of edgesr (the CLI's checks and the runtime's sinks both call it): the nearest
    existing ancestor of ``folder`` must be a folder in which a file can really be created. With ``create``,
    ``folder`` itself is made and probed. A wrong place is a ``UsageError`` (exit 2); a full disk is a
    ``BadInputError`` (exit 1): the place was right, the write failed."""
    anc = _nearest_existing(folder)
    if not anc.is_dir():
        raise UsageError(f"{option} {folder}: cannot write there, {anc} is a file, not a folder")
    where = folder if create else anc
    try:  # a real probe: permissions, read-only filesystems and pseudo-filesystems all answer here
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".edgesr-probe-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = "read-only filesystem" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
        error = BadInputError if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO) else UsageError
        raise error(f"{option} {folder}: cannot write in {where} ({reason})") from None


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _inside(child: Path, folder: Path) -> bool:
    c, f = child.resolve(), folder.resolve()
    return c == f or f in c.parents


def _not_an_input(p: Path, option: str, inputs: Iterable[PathLike | None], folder: bool) -> None:
    for raw in inputs:
        if raw is None:
            continue
        inp = Path(raw).expanduser()
        if _same(p, inp):
            raise UsageError(f"{option} {p} is the input {inp}: refusing to overwrite an input")
        if not folder and inp.is_dir() and p.exists() and _inside(p, inp):
            raise UsageError(f"{option} {p} is a file of the input folder {inp}: refusing to overwrite an input")
        if folder and inp.is_dir() and _inside(p, inp):
            raise UsageError(f"{option} {p} is inside the input folder {inp}: refusing to mix outputs into an input")


def output_file(path: PathLike, option: str, inputs: Iterable[PathLike | None] = ()) -> Path:
    """A file the command will (re)write. Returns it, ``~`` expanded."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"{option} {p} is a folder: give a file name")
    if str(path).endswith(os.sep):
        raise UsageError(f"{option} {path} names a folder: give a file name")
    if p.exists() and not p.is_file():
        raise UsageError(f"{option} {p} is a device, FIFO or socket, not a regular file: edgesr never replaces one")
    writable_place(p.parent, option)
    _not_an_input(p, option, inputs, folder=False)
    return p


def output_dir(path: PathLike, option: str, inputs: Iterable[PathLike | None] = ()) -> Path:
    """A folder the command will create (if missing) and write into."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{option} {p} is a file, not a folder")
    writable_place(p, option)
    _not_an_input(p, option, inputs, folder=True)
    return p


def input_file(path: PathLike, option: str) -> Path:
    """A file the command reads."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"{option} {p} is a folder, not a file")
    if not p.exists():
        raise UsageError(f"{option} {p} does not exist")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{option} {p} is not readable")
    return p


def input_dir(path: PathLike, option: str) -> Path:
    """A folder the command reads (an image folder)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"{option} {p} does not exist")
    if not p.is_dir():
        raise UsageError(f"{option} {p} is a file, not a folder")
    return p
