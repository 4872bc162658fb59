"""The output folder of ``murad predict`` (``--out``): what a run owns there, one run at a time, and the finished
worklist swapped in file by file.

A run owns, in the folder, only the worklist's files (:data:`OWNED`), :data:`MARKER` (a record of the run that wrote
them, which also says the folder holds a murad worklist) and, while it runs, its lock (:data:`LOCK`) and its staging
folder (``.murad-predict-<pid>-<id>.partial``). It writes, replaces and removes nothing else:

- Everything is written into the staging folder first; when all of it is there, the marker and then each owned file
  is moved into place (a rename, so each is whole, old or new, at any moment); then the staging folder is removed.
- A folder that holds a file of an owned name without the marker (or a worklist an earlier murad wrote, whose CSVs
  have murad's columns) is refused: that file is someone else's.
- The lock is taken with ``flock`` (released by the system on any exit, a killed run's too) and holds the run's pid
  and host, so a second run is refused naming the first, and a lock a killed run left is known by its pid (also
  where the file system has no ``flock``); a killed run's staging folder is removed by the next run.
- On any failure or interruption the staging folder and the lock are removed, and so is the folder itself (and any
  parent) where the run made it and it is still empty.

The folder must not be, hold, or lie inside the input (or a CSV's ``--root``): :func:`check_output_folder`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

from ..errors import InputError
from ..interruption import Stopped, uninterrupted
from ..names import shown

log = logging.getLogger("murad")

WORKLIST_COLUMNS = [
    "rank",
    "study",
    "body_part",
    "n_images",
    "n_read",
    "probability",
    "abnormal",
    "threshold",
    "operating_point",
    "model",
    "status",
    "reason",
]
IMAGE_COLUMNS = ["study", "file", "kind", "width", "height", "probability", "overlay", "status", "reason"]
OVERLAYS = "overlays"
OWNED = ("worklist.csv", "images.csv", "worklist.html", OVERLAYS)
PUBLISHED_ORDER = (OVERLAYS, "images.csv", "worklist.csv", "worklist.html")  # the page last: it shows the others
MARKER = "murad-worklist.json"
MARKER_WRITER = "murad predict"
LOCK = ".murad-predict.lock"
STAGING = re.compile(r"^\.murad-predict-(?P<pid>\d+)-[0-9a-f]{8}\.partial$")
_EARLIER_HEADERS = {"worklist.csv": ",".join(WORKLIST_COLUMNS), "images.csv": ",".join(IMAGE_COLUMNS)}


def _strerror(error: OSError) -> str:
    return error.strerror or type(error).__name__


def check_output_folder(out: Path, source: Path, root: Path | None = None) -> None:
    """Refuse an output folder that cannot be one (before anything is read or written): a file, a link to nothing,
    the input or a folder holding it or inside it (a CSV's ``--root`` too), or a folder holding files of the
    worklist's names that murad did not write."""
    name = shown(str(out))
    if out.is_symlink() and not out.exists():
        raise InputError(f"{name}: a link to nothing; name a folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"{name}: exists and is not a folder")
    where = out.resolve()
    guarded = [(source, "the input")] + ([(root, "the CSV's --root")] if root is not None else [])
    for path, what in guarded:
        resolved = path.resolve()
        if source.is_file() and path is source:  # a CSV: only the file itself
            relation = "holds" if resolved.is_relative_to(where) else None
        elif where == resolved:
            relation = "is"
        elif where.is_relative_to(resolved):
            relation = "lies inside"
        elif resolved.is_relative_to(where):
            relation = "holds"
        else:
            relation = None
        if relation:
            raise InputError(
                f"{name}: the output folder {relation} {what} ({shown(str(path))}); name a folder apart from it"
            )
    if out.is_dir():
        check_owned(out)


def _marker_record(out: Path) -> dict | None:
    path = out / MARKER
    if not os.path.lexists(path):
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or record.get("written_by") != MARKER_WRITER:
        raise InputError(f"{shown(str(path))}: not the record murad predict writes; name another folder")
    return record


def _earlier_worklist(out: Path) -> bool:
    """A worklist written by a murad from before the marker: both CSVs there, with murad's columns."""
    for file, header in _EARLIER_HEADERS.items():
        try:
            with open(out / file, encoding="utf-8", errors="replace") as handle:
                if handle.readline().rstrip("\r\n") != header:
                    return False
        except OSError:
            return False
    return True


def check_owned(out: Path) -> None:
    """Refuse a folder holding files of the worklist's names that murad did not write."""
    if _marker_record(out) is not None:
        return
    present = [file for file in OWNED if os.path.lexists(out / file)]
    if present and not _earlier_worklist(out):
        raise InputError(
            f"{shown(str(out))}: holds {', '.join(present)}, which murad did not write (no {MARKER}); "
            "name another folder"
        )


# ------------------------------------------------------------------------------------------------------- lock


def _holder(descriptor: int) -> dict | None:
    """What a lock file says about the run holding it (pid, host, started), or None."""
    try:
        os.lseek(descriptor, 0, os.SEEK_SET)
        record = json.loads(os.read(descriptor, 4096) or b"null")
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _running(holder: dict) -> bool:
    """Whether the run a lock names is still running: a murad process of that pid on this host."""
    if holder.get("host") != socket.gethostname() or holder["pid"] == os.getpid():
        return False
    try:
        command = Path(f"/proc/{holder['pid']}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: any process of that pid
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return b"murad" in command


def _described(holder: dict | None) -> str:
    if holder is None:
        return "a run whose lock says nothing more"
    return f"pid {holder['pid']} on {holder.get('host', '?')}, started {holder.get('started', '?')}"


class OutputFolder:
    """``with OutputFolder(out) as folder:`` makes the folder where needed, takes its lock and gives a fresh staging
    folder (``folder.staging``) to write into; :meth:`publish` swaps what is there into place. Leaving the block
    removes the staging folder and the lock, and folders the run made that are still empty (module docstring)."""

    def __init__(self, path: Path):
        self.path = path
        self.name = shown(str(path))
        self.staging: Path | None = None
        self.published = False
        self._created: list[Path] = []
        self._lock: int | None = None

    def __enter__(self) -> OutputFolder:
        try:
            self._make()
            self._take_lock()
            check_owned(self.path)  # again, under the lock
            self._remove_killed_runs_staging()
            self.staging = self.path / f".murad-predict-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
            (self.staging / OVERLAYS).mkdir(parents=True)
        except OSError as error:
            self._clean()
            raise InputError(f"{self.name}: cannot be written ({_strerror(error)})") from None
        except BaseException as error:  # a signal while the folder is being prepared, too
            self._clean()
            if isinstance(error, Stopped):
                error.note = f"nothing partial is left in {self.name}; a worklist there before is as it was"
            raise
        return self

    def __exit__(self, kind, error, traceback) -> None:
        with uninterrupted():
            self._clean()
        if isinstance(error, Stopped):
            error.note = (
                f"the new worklist in {self.name} was written"
                if self.published
                else f"nothing partial is left in {self.name}; a worklist there before is as it was"
            )
        elif isinstance(error, OSError):
            raise InputError(f"{self.name}: cannot be written ({_strerror(error)})") from None

    def _make(self) -> None:
        missing, folder = [], self.path
        while not os.path.lexists(folder):
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            folder.mkdir()
            self._created.append(folder)

    def _take_lock(self) -> None:
        path = self.path / LOCK
        for _ in range(10):
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            holder = _holder(descriptor)
            try:
                import fcntl

                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                raise self._busy(holder) from None
            except OSError:  # no flock on this file system: the pid in the lock decides
                pass
            if holder is not None and _running(holder):
                os.close(descriptor)
                raise self._busy(holder)
            try:
                same = os.fstat(descriptor).st_ino == os.stat(path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the run before removed the lock between our open and flock: take a fresh one
                os.close(descriptor)
                continue
            if holder is not None:
                log.warning("%s: a lock left by a run that ended without releasing it (%s) is taken over",
                            self.name, _described(holder))  # fmt: skip
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            record = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(record).encode(), 0)
            self._lock = descriptor
            return
        raise InputError(f"{self.name}: its lock {LOCK} kept changing hands; try again")

    def _busy(self, holder: dict | None) -> InputError:
        return InputError(
            f"{self.name}: another murad predict is writing its worklist here ({_described(holder)}); "
            "wait for it to end or name another --out"
        )

    def _remove_killed_runs_staging(self) -> None:
        for entry in os.scandir(self.path):
            match = STAGING.match(entry.name)
            killed = match and not _running({"pid": int(match["pid"]), "host": socket.gethostname()})
            if killed and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)

    def publish(self, record: dict) -> None:
        """The marker (``record``, with who wrote it), then each owned file of the staging folder, moved into place;
        a signal arriving meanwhile stops the run after the last one."""
        with uninterrupted():
            marker = self.staging / MARKER
            marker.write_text(json.dumps({"written_by": MARKER_WRITER, **record}, indent=2) + "\n")
            os.replace(marker, self.path / MARKER)
            for file in PUBLISHED_ORDER:
                target = self.path / file
                if file == OVERLAYS and os.path.lexists(target):  # a folder is not replaced by a rename: move it
                    os.rename(target, self.staging / f"{OVERLAYS}.previous")
                os.replace(self.staging / file, target)
            self.published = True

    def _clean(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path / LOCK)
            os.close(self._lock)
            self._lock = None
        if not self.published:
            for folder in reversed(self._created):
                try:
                    folder.rmdir()
                except OSError:
                    break
