"""Which windows a backfill has finished, in a JSON file rewritten atomically after each one.

The file belongs to one backfill: source, selection, target table and window size (``Identity``);
it is named after a hash of them by default, and a file of another backfill is refused rather than
mixed in. Finished time is kept as merged ``[start, end)`` ranges, so the file stays small over
months of windows. A window is recorded only once all of it is written: a process killed at any
moment leaves either the old file or the new one (temporary file, fsync, ``os.replace``), and
whatever it wrote of an unfinished window is simply written again, identically, by the rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from connector.backfill.windows import Window

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that belongs to another backfill."""


@dataclass(frozen=True)
class Identity:
    """What makes two runs the same backfill."""

    source: str  # the remote-read URL, without credentials
    selectors: tuple[str, ...]  # canonical spellings, sorted
    target: str  # "timestream:<region>[ <endpoint>]" or "local:<data dir>"
    database: str
    table: str
    window_ms: int

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_path(identity: Identity, directory: Path | None = None) -> Path:
    """``.backfill-<hash>.json`` in ``directory`` (the current one by default)."""
    return (directory or Path.cwd()) / f".backfill-{identity.digest()[:16]}.json"


@dataclass
class Checkpoint:
    path: Path
    identity: Identity
    done: list[list[int]] = field(default_factory=list)  # merged, sorted [start, end) ranges

    @classmethod
    def load(cls, path: Path, identity: Identity) -> Checkpoint:
        """The checkpoint at ``path``, or an empty one if there is no file yet."""
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, identity)
        except OSError as exc:
            raise CheckpointError(f"cannot read the checkpoint {path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
            recorded = data["identity"]
            done = [[int(start), int(end)] for start, end in data["done"]]
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path} is not a backfill checkpoint (delete it to start over)") from None
        if data.get("key") != identity.digest():
            raise CheckpointError(
                f"the checkpoint {path} belongs to another backfill ({_differences(recorded, asdict(identity))}): "
                "pass another --checkpoint, or delete it to start over"
            )
        return cls(path, identity, _merged(done))

    def covers(self, window: Window) -> bool:
        """Whether all of ``window`` was finished before."""
        return any(start <= window.start_ms and window.end_ms <= end for start, end in self.done)

    def finished_ms(self) -> int:
        return sum(end - start for start, end in self.done)

    def mark(self, window: Window) -> None:
        """Record ``window`` as finished and save the file atomically."""
        self.done = _merged([*self.done, [window.start_ms, window.end_ms]])
        self.save()

    def save(self) -> None:
        payload = {
            "format": FORMAT,
            "key": self.identity.digest(),
            "identity": asdict(self.identity),
            "done": self.done,
        }
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        _sync_directory(self.path.parent)


def _merged(ranges: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _differences(recorded: Any, wanted: dict[str, Any]) -> str:
    if not isinstance(recorded, dict):
        return "unknown"
    changed = [
        name
        for name, value in wanted.items()
        if recorded.get(name) != (list(value) if isinstance(value, tuple) else value)
    ]
    return "other " + ", ".join(changed) if changed else "another format"


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; some file systems cannot open a directory, which is fine."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
