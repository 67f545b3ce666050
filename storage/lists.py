"""The durable black/white list store: one immutable snapshot in memory, atomic replacement on disk.

Layer: storage. Synchronous; the daemon calls the writers in a worker thread, readers anywhere.

Each list is kept as its exact download stream (spec A6: 16-byte header + sorted 10-byte packed
ASNs), one immutable `bytes` per list, about 10 MB per million cards. A lookup is a binary search over
that blob (`protocol.downloads.list_stream_contains`); a 0x34 answer is a slice of it.

On disk (the lists directory)::

    manifest.json            the commit point: generation and, per kind, file, version, valid window,
                             area, count, size and SHA-256
    base-00000007.lst        download streams, named by kind and the generation that wrote them;
    added-00000007.lst       never modified once written (a new generation writes new files)
    deleted-00000003.lst
    white-00000005.lst

Replacing lists (`ListStore.replace`, `replace_many`, `import_file`), under one writer lock:

1. build and validate the new snapshot completely (sorted, BCD, dates; versions newer than current);
2. write each new stream to a temporary file, fsync, rename to its final name; fsync the directory;
3. write the new manifest the same way: the rename of `manifest.json` is the commit point;
4. swap `ListStore.current` to the new `ListSet` (one reference assignment);
5. delete data files the manifest no longer names.

A failure (or a crash) before step 3 leaves the old manifest, which names only old, untouched files: the
old lists stay in force, in memory and after a restart; stray new files are removed by the next
`open`. Readers take `store.current` once and query that snapshot: they see the old or the new lists,
never a mix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from protocol.downloads import (
    ASN_DIGITS,
    ASN_LEN,
    MAX_SEGMENTED_LEN,
    DownloadError,
    InvalidAsnError,
    ListFile,
    ListHeader,
    ListKind,
    list_stream_contains,
    validate_list_stream,
)
from storage.listfiles import (
    ImportDateError,
    ImportFormatError,
    ImportOrderError,
    ListFormat,
    ListImportError,
    ListStoreCorruptError,
    ListStoreError,
    ListStoreLockedError,
    ListStoreWriteError,
    ListVersionError,
    read_list_file,
)

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "ImportDateError",
    "ImportFormatError",
    "ImportOrderError",
    "ListImportError",
    "ListSet",
    "ListStore",
    "ListStoreCorruptError",
    "ListStoreError",
    "ListStoreLockedError",
    "ListStoreWriteError",
    "ListVersionError",
    "ListVersions",
    "StoredList",
]

log = logging.getLogger(__name__)

MANIFEST_NAME: Final = "manifest.json"
LOCK_NAME: Final = "lists.lock"
MANIFEST_FORMAT: Final = 1
_TMP_PREFIX: Final = ".tmp-"
_DATA_RE: Final = re.compile(r"(base|added|deleted|white)-\d{8}\.lst")
_FILE_MODE: Final = 0o640


# --- the in-memory snapshot ------------------------------------------------------------------------


def _key(asn: str | bytes) -> bytes:
    """The packed 10-byte form of a card number: 20 hex digits or the 10 raw bytes.

    Filler nibbles (A-F), as a lenient 0x36 decode reports them, are accepted: such a number is on no
    list (entries are checked decimal BCD), so it is simply not found. Anything else is an
    `InvalidAsnError`."""
    if isinstance(asn, bytes) and len(asn) == ASN_LEN:
        return asn
    if isinstance(asn, str) and len(asn) == ASN_DIGITS and asn.isascii() and asn.isalnum():
        try:
            return bytes.fromhex(asn)
        except ValueError:
            pass
    raise InvalidAsnError(asn if isinstance(asn, str) else repr(asn))


@dataclass(frozen=True, slots=True, repr=False)
class StoredList:
    """One list as held in memory: its header and its exact download stream."""

    kind: ListKind
    header: ListHeader
    stream: bytes
    file: str = ""
    sha256: str = ""

    @classmethod
    def from_file(cls, kind: ListKind, lst: ListFile, file: str = "") -> StoredList:
        stream = lst.build()
        return cls(kind, lst.header, stream, file, hashlib.sha256(stream).hexdigest())

    @property
    def version(self) -> int:
        return self.header.version

    @property
    def wire_version(self) -> int:
        """The version the 0x30 poll reply carries for this list."""
        return self.kind.wire_version(self.header.version)

    @property
    def count(self) -> int:
        return self.header.count

    def valid_on(self, day: dt.date) -> bool:
        return self.header.valid_on(day)

    def __contains__(self, asn: object) -> bool:
        if not isinstance(asn, str | bytes):
            return False
        return list_stream_contains(self.stream, _key(asn))

    def __repr__(self) -> str:
        h = self.header
        return (
            f"StoredList({self.kind.label}, version={h.version}, count={h.count},"
            f" valid {h.valid_from}..{h.valid_to}, area={h.area}, file={self.file!r})"
        )


@dataclass(frozen=True, slots=True)
class ListVersions:
    """The list versions for the 0x30 poll reply (0 = no list; dispensers ignore version 0)."""

    bl_ver: int = 0
    add_bl_ver: int = 0
    del_bl_ver: int = 0
    wh_ver: int = 0


@dataclass(frozen=True, slots=True)
class ListSet:
    """An immutable snapshot of the four lists. Take one (`store.current`) and ask it everything.

    The effective blacklist is base ∪ added − deleted."""

    base: StoredList | None = None
    added: StoredList | None = None
    deleted: StoredList | None = None
    white: StoredList | None = None
    generation: int = 0

    @classmethod
    def from_files(cls, lists: Mapping[ListKind, ListFile], generation: int = 0) -> ListSet:
        """An in-memory snapshot (no files), e.g. for rules tests."""
        stored = {ListKind(kind): StoredList.from_file(ListKind(kind), lst) for kind, lst in lists.items()}
        return cls()._with(stored, generation)

    def get(self, kind: ListKind) -> StoredList | None:
        stored: StoredList | None = getattr(self, ListKind(kind).label)
        return stored

    def _with(self, lists: Mapping[ListKind, StoredList], generation: int) -> ListSet:
        return dataclasses.replace(self, generation=generation, **{k.label: v for k, v in lists.items()})

    def is_blacklisted(self, asn: str | bytes) -> bool:
        """True when the card is on base ∪ added and not on deleted. `asn`: 20 digits or 10 packed bytes
        (A-F filler nibbles allowed: never listed). Raises `protocol.downloads.InvalidAsnError` otherwise."""
        key = _key(asn)
        listed = (self.base is not None and list_stream_contains(self.base.stream, key)) or (
            self.added is not None and list_stream_contains(self.added.stream, key)
        )
        return listed and not (self.deleted is not None and list_stream_contains(self.deleted.stream, key))

    def is_whitelisted(self, asn: str | bytes) -> bool:
        key = _key(asn)
        return self.white is not None and list_stream_contains(self.white.stream, key)

    @property
    def versions(self) -> ListVersions:
        def wire(stored: StoredList | None) -> int:
            return 0 if stored is None else stored.wire_version

        return ListVersions(wire(self.base), wire(self.added), wire(self.deleted), wire(self.white))

    @property
    def counts(self) -> dict[ListKind, int]:
        """Entries per list (0 for a list not held)."""
        return {kind: (0 if (s := self.get(kind)) is None else s.count) for kind in ListKind}

    def validity(self, kind: ListKind) -> tuple[dt.date, dt.date] | None:
        stored = self.get(kind)
        return None if stored is None else (stored.header.valid_from, stored.header.valid_to)

    def blacklists_valid_on(self, day: dt.date) -> bool:
        """True when base, added and deleted are all held and within their dates on `day` (the condition
        under which a dispenser uses its local copies)."""
        parts = (self.base, self.added, self.deleted)
        return all(p is not None and p.valid_on(day) for p in parts)

    def downloadable(self, kind: ListKind) -> bool:
        """False when the list's stream is longer than 0x34 can address (S_OFFSET is 2 bytes of 16-byte
        segments: `MAX_SEGMENTED_LEN`, 1 MiB, about 104 800 entries); dispensers could fetch only its start."""
        stored = self.get(kind)
        return stored is None or len(stored.stream) <= MAX_SEGMENTED_LEN

    def download_bytes(self, content: int) -> bytes:
        """The download stream of CONTENT 0..3 for 0x33 / 0x34 (empty when the list is not held)."""
        try:
            kind = ListKind(content)
        except ValueError:
            raise ValueError(f"CONTENT {content} is not a list (0..3)") from None
        stored = self.get(kind)
        return b"" if stored is None else stored.stream


# --- files -----------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(directory: Path, name: str, data: bytes) -> None:
    """Write `data` to `directory/name` through a temporary file: fsync, then rename over the name."""
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _commit_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """The commit point: atomically replace manifest.json. Once the rename happened, the new lists are
    in force; a failing directory fsync after it is only logged."""
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    _write_atomic(directory, MANIFEST_NAME, data)
    try:
        _fsync_dir(directory)
    except OSError:
        log.exception("lists: fsync of %s after the manifest rename failed", directory)


def _manifest_entry(stored: StoredList) -> dict[str, Any]:
    h = stored.header
    return {
        "file": stored.file,
        "version": h.version,
        "valid_from": h.valid_from.isoformat(),
        "valid_to": h.valid_to.isoformat(),
        "area": h.area,
        "count": h.count,
        "size": len(stored.stream),
        "sha256": stored.sha256,
    }


def _manifest(lists: ListSet) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "generation": lists.generation,
        "lists": {
            kind.label: _manifest_entry(stored)
            for kind in ListKind
            if (stored := lists.get(kind)) is not None
        },
    }


def _load_entry(directory: Path, kind: ListKind, entry: Any) -> StoredList:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise ListStoreCorruptError(directory / MANIFEST_NAME, f"bad entry for the {kind.label} list")
    name = entry["file"]
    if _DATA_RE.fullmatch(name) is None or not name.startswith(kind.label + "-"):
        raise ListStoreCorruptError(directory / MANIFEST_NAME, f"bad file name {name!r} for {kind.label}")
    path = directory / name
    try:
        stream = path.read_bytes()
    except FileNotFoundError:
        raise ListStoreCorruptError(path, f"the {kind.label} list file is missing") from None
    except OSError as exc:
        raise ListStoreCorruptError(path, f"cannot read the {kind.label} list: {exc}") from exc
    if len(stream) != entry.get("size"):
        raise ListStoreCorruptError(path, f"size {len(stream)}, manifest says {entry.get('size')}")
    digest = hashlib.sha256(stream).hexdigest()
    if digest != entry.get("sha256"):
        raise ListStoreCorruptError(path, "SHA-256 does not match the manifest")
    try:
        header = validate_list_stream(stream)
    except DownloadError as exc:
        raise ListStoreCorruptError(path, f"not a valid list: {exc}") from exc
    stored = StoredList(kind, header, stream, name, digest)
    expected = _manifest_entry(stored)
    if any(entry.get(key) != value for key, value in expected.items()):
        raise ListStoreCorruptError(path, "the file's header disagrees with the manifest")
    return stored


def _load(directory: Path) -> ListSet:
    path = directory / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ListSet()
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ListStoreCorruptError(path, f"not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ListStoreCorruptError(path, f"not a list manifest of format {MANIFEST_FORMAT}")
    generation = manifest.get("generation")
    lists = manifest.get("lists")
    if not isinstance(generation, int) or generation < 0 or not isinstance(lists, dict):
        raise ListStoreCorruptError(path, "manifest lacks generation or lists")
    unknown = set(lists) - {kind.label for kind in ListKind}
    if unknown:
        raise ListStoreCorruptError(path, f"unknown list kinds {sorted(unknown)}")
    stored = {
        kind: _load_entry(directory, kind, lists[kind.label]) for kind in ListKind if kind.label in lists
    }
    return ListSet()._with(stored, generation)


def _committed_generation(directory: Path) -> int | None:
    """The generation manifest.json names now (None if unreadable): tells whether an interrupted
    replacement got past its commit point."""
    try:
        generation = json.loads((directory / MANIFEST_NAME).read_bytes()).get("generation")
    except (OSError, ValueError, AttributeError):
        return None
    return generation if isinstance(generation, int) else None


def _referenced(lists: ListSet) -> set[str]:
    return {stored.file for kind in ListKind if (stored := lists.get(kind)) is not None}


def _remove_unreferenced(directory: Path, keep: set[str]) -> None:
    """Delete data files and temporaries the manifest does not name (left by a crash or a replacement)."""
    for path in directory.iterdir():
        name = path.name
        if name in keep or not (name.startswith(_TMP_PREFIX) or _DATA_RE.fullmatch(name)):
            continue
        try:
            path.unlink()
        except OSError:
            log.warning("lists: cannot remove stale file %s", path, exc_info=True)


# --- the store -------------------------------------------------------------------------------------


class ListStore:
    """The lists directory and the current snapshot. One writer at a time (a lock); readers use
    `current`, an immutable `ListSet`. The directory is held with an exclusive `flock` on `lists.lock`
    from `open` to `close`, so a second store (say, a CLI run beside the daemon) cannot delete files a
    replacement in progress has written but not yet committed."""

    def __init__(self, directory: Path, lists: ListSet, lock_fd: int) -> None:
        self._directory = directory
        self._current = lists
        self._lock = threading.Lock()
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> ListStore:
        """Open (creating it if needed) a lists directory and load the lists its manifest names.

        No manifest means no lists yet. Raises `ListStoreLockedError` when another store holds the
        directory, `ListStoreCorruptError` when the manifest or a file it names is missing, altered or
        invalid."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ListStoreLockedError(path) from None
            lists = _load(path)
            _remove_unreferenced(path, _referenced(lists))
        except BaseException:
            os.close(fd)
            raise
        log.info("lists: loaded generation %d from %s: %s", lists.generation, path, _describe(lists))
        return cls(path, lists, fd)

    def close(self) -> None:
        """Release the directory. `current` stays readable; replacing lists is no longer possible."""
        with self._lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def current(self) -> ListSet:
        """The snapshot in force. Take it once per decision: it never changes under you."""
        return self._current

    def replace(self, kind: ListKind, lst: ListFile, *, force: bool = False) -> ListSet:
        """Replace one list; see `replace_many`."""
        return self.replace_many({kind: lst}, force=force)

    def replace_many(self, lists: Mapping[ListKind, ListFile], *, force: bool = False) -> ListSet:
        """Replace several lists at once, all or nothing; return the new snapshot.

        Unless `force`, each version must be above the current one, differ from it in what dispensers
        compare (the low byte, except for the base list), and not be 0 there. Raises `ListVersionError`,
        or `ListStoreWriteError` when the files cannot be written; either way the previous lists stay."""
        with self._lock:
            if self._lock_fd < 0:
                raise ListStoreError(f"{self._directory}: the list store is closed")
            old = self._current
            if not lists:
                return old
            for kind, lst in lists.items():
                _check_version(old.get(kind), ListKind(kind), lst, force)
            generation = old.generation + 1
            new = {
                kind: StoredList.from_file(kind, lst, f"{kind.label}-{generation:08d}.lst")
                for kind, lst in ((ListKind(k), v) for k, v in lists.items())
            }
            candidate = old._with(new, generation)
            try:
                self._persist(new.values(), candidate)
            except BaseException:
                if _committed_generation(self._directory) == generation:
                    self._current = (
                        candidate  # interrupted after the commit point: the new lists are in force
                    )
                raise
            self._current = candidate
            _remove_unreferenced(self._directory, _referenced(candidate))
        log.info("lists: generation %d in force: %s", generation, _describe(candidate))
        return candidate

    def _persist(self, new: Iterable[StoredList], candidate: ListSet) -> None:
        written: list[Path] = []
        try:
            for stored in new:
                _write_atomic(self._directory, stored.file, stored.stream)
                written.append(self._directory / stored.file)
            _fsync_dir(self._directory)
            _commit_manifest(self._directory, _manifest(candidate))
        except BaseException as exc:
            if _committed_generation(self._directory) != candidate.generation:
                for path in written:
                    path.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise ListStoreWriteError(self._directory, f"cannot write the new lists: {exc}") from exc
            raise

    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        kind: ListKind | None = None,
        fmt: ListFormat = "auto",
        force: bool = False,
    ) -> ListSet:
        """Import a text or binary list file (see docs/lists.md) and make it current.

        Raises `ListImportError` subclasses naming the line (text) or entry (binary) and the problem,
        `ListVersionError`, or `ListStoreWriteError`; the previous lists stay in force."""
        try:
            found, lst = read_list_file(path, kind=kind, fmt=fmt)
        except OSError as exc:
            raise ImportFormatError(Path(path), f"cannot read the file: {exc}") from exc
        return self.replace(found, lst, force=force)


def _check_version(current: StoredList | None, kind: ListKind, lst: ListFile, force: bool) -> None:
    if force:
        return
    wire = kind.wire_version(lst.version)
    have = None if current is None else current.version
    if wire == 0:
        what = "version" if kind is ListKind.BASE else "the low byte of the version"
        raise ListVersionError(kind, have, lst.version, f"{what} is 0, which dispensers ignore")
    if current is None:
        return
    if lst.version <= current.version:
        raise ListVersionError(kind, have, lst.version, "not newer than the current list")
    if wire == current.wire_version:
        raise ListVersionError(
            kind, have, lst.version, f"dispensers compare only the low byte ({wire}), which is unchanged"
        )


def _describe(lists: ListSet) -> str:
    parts = [
        f"{kind.label} v{stored.version} ({stored.count})"
        for kind in ListKind
        if (stored := lists.get(kind)) is not None
    ]
    return ", ".join(parts) or "no lists"
