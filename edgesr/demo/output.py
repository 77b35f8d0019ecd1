"""The ``edgesr demo`` output folder: refused when it holds anything and is not a previous demo
folder; a previous demo's entries (listed in its ``.edgesr-demo`` marker, kept up to date as the demo
writes) are removed first, and nothing else in the folder is ever touched."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgesr import __version__
from edgesr.artifact import write_json
from edgesr.errors import BadInputError, UsageError

MARKER = ".edgesr-demo"


@dataclass
class DemoDir:
    """The output folder and the files this demo wrote into it (kept in the marker as it goes)."""

    root: Path
    files: list[str] = field(default_factory=list)

    @classmethod
    def prepare(cls, root: Path, keep_safe: Path | None = None) -> DemoDir:
        """Make ``root`` ready: new, empty, or a previous demo folder whose files are removed first
        (``keep_safe``, the checkpoint to use, may not be one of them)."""
        if root.exists() and not root.is_dir():
            raise BadInputError(f"--out {root} is a file, not a folder")
        marker = root / MARKER
        if root.is_dir() and any(root.iterdir()):
            if not marker.is_file():
                raise UsageError(
                    f"--out {root} is not empty and is not an edgesr demo folder: refusing to write into it "
                    "(choose another --out)"
                )
            try:
                previous = [n for n in json.loads(marker.read_text()).get("files", []) if Path(n).name == n]
            except (OSError, ValueError, AttributeError):
                raise BadInputError(f"cannot read {marker}: remove the folder or choose another --out") from None
            doomed = [(root / n).resolve() for n in previous]
            if keep_safe is not None and any(keep_safe.resolve().is_relative_to(d) for d in doomed):
                raise UsageError(
                    f"--checkpoint {keep_safe} belongs to the previous demo in {root}, which this run replaces: "
                    "copy it elsewhere first or choose another --out"
                )
            for p in doomed:  # only the entries the previous demo wrote, nothing else
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        root.mkdir(parents=True, exist_ok=True)
        d = cls(root)
        d._save()
        return d

    def add(self, path: Path) -> Path:
        name = path.relative_to(self.root).parts[0]
        if name not in self.files:
            self.files.append(name)
            self._save()
        return path

    def _save(self) -> None:
        write_json(self.root / MARKER, {"edgesr_demo": __version__, "files": self.files})
