"""List files an operator or the centre hands to the station, and the errors of the list store.

Layer: storage. Two formats are read (`read_list_file`), both documented in `docs/lists.md`:

- binary: the exact download stream of spec A6 (`protocol.downloads.ListFile`); it carries no kind,
  so the caller names it;
- text: a header of `key = value` lines, then one 20-digit card number per line::

      # comment lines and blank lines are allowed in the header
      kind = base                 base | added | deleted | white (or 0..3)
      version = 42                decimal, or hex with 0x; 0..65535
      valid_from = 2024-01-01     YYYY-MM-DD or YYYYMMDD
      valid_to = 2024-12-31
      area = 0x0011               decimal, or hex with 0x; 0..65535
      count = 2                   optional: must equal the number of card numbers below

      10000100000000000001
      10000100000000000002

  The numbers must already be strictly ascending (the spec's lists arrive sorted): the reader rejects,
  never sorts. Blank lines may only trail the list. Every error names the line and the problem.

Reading is streamed in chunks of `TEXT_CHUNK_LINES` lines, each checked and packed with C-level passes
(strip, join, isdigit, unhexlify): a million numbers take well under a second and the transient memory
stays at a few MB beyond the packed 10 MB result.
"""

from __future__ import annotations

import binascii
import datetime as dt
import os
import re
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Final, Literal

from protocol.downloads import (
    ASN_DIGITS,
    LIST_HEADER_LEN,
    DownloadError,
    DownloadValueError,
    InvalidAsnError,
    ListDateError,
    ListFile,
    ListKind,
    ListOrderError,
    looks_like_list_stream,
)
from storage.errors import StorageError

__all__ = [
    "TEXT_CHUNK_LINES",
    "ImportDateError",
    "ImportFormatError",
    "ImportOrderError",
    "ListFormat",
    "ListImportError",
    "ListStoreCorruptError",
    "ListStoreError",
    "ListStoreLockedError",
    "ListStoreWriteError",
    "ListVersionError",
    "detect_format",
    "format_text",
    "read_list_file",
]

TEXT_CHUNK_LINES: Final = 1 << 16
_SHOW_CHARS: Final = 48
_BOM: Final = b"\xef\xbb\xbf"
_DATE_RE: Final = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_REQUIRED: Final = ("kind", "version", "valid_from", "valid_to", "area")
_OPTIONAL: Final = ("count",)

ListFormat = Literal["auto", "binary", "text"]


# --- errors ----------------------------------------------------------------------------------------


class ListStoreError(StorageError):
    """Root of the list store's errors."""


class ListStoreCorruptError(ListStoreError):
    """The lists directory is damaged: a missing or altered data file, or an unreadable manifest."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ListStoreLockedError(ListStoreError):
    """Another `ListStore` (this process or another) holds the lists directory."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: the lists directory is open in another store (lock held)")
        self.path = path


class ListStoreWriteError(ListStoreError):
    """Persisting new lists failed (disk full, permissions …); the previous lists stay in force."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ListVersionError(ListStoreError):
    """A list's version may not replace the current one (not newer, same wire version, or zero)."""

    def __init__(self, kind: ListKind, current: int | None, offered: int, reason: str) -> None:
        now = "none" if current is None else str(current)
        super().__init__(f"{kind.label} list version {offered} refused (current {now}): {reason}")
        self.kind = kind
        self.current = current
        self.offered = offered


class ListImportError(ListStoreError):
    """A list file cannot be imported. `line` (text files, 1-based) or `entry` (binary files, 0-based)
    locates the problem when it has a place."""

    def __init__(
        self, path: Path, problem: str, *, line: int | None = None, entry: int | None = None
    ) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.problem = problem
        self.line = line
        self.entry = entry


class ImportFormatError(ListImportError):
    """Malformed header line, unknown or missing key, a line that is not a card number, a binary stream
    that does not fit the layout, a count that does not match."""


class ImportOrderError(ListImportError):
    """A card number is not above the one before it: unsorted, or a duplicate."""


class ImportDateError(ListImportError):
    """A date that does not parse, or valid_to before valid_from."""


# --- reading ---------------------------------------------------------------------------------------


def _show(line: bytes) -> str:
    text = line.decode("ascii", "backslashreplace")
    return repr(text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "…")


def detect_format(path: Path) -> Literal["binary", "text"]:
    """ "binary" when the file reads as a list download stream (BCD dates, COUNT matching the size)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(LIST_HEADER_LEN)
    return "binary" if looks_like_list_stream(head, size) else "text"


def read_list_file(
    path: str | os.PathLike[str], *, kind: ListKind | None = None, fmt: ListFormat = "auto"
) -> tuple[ListKind, ListFile]:
    """Read and fully validate a list file; return its kind and contents.

    A text file names its kind (if `kind` is given too, they must agree); a binary file needs `kind`.
    Raises `ListImportError` subclasses; `OSError` when the file cannot be read."""
    file = Path(path)
    chosen = detect_format(file) if fmt == "auto" else fmt
    if chosen == "binary":
        if kind is None:
            raise ImportFormatError(file, "a binary list file does not say which list it is: give its kind")
        return kind, _read_binary(file)
    with file.open("rb") as f:
        found, lst = _TextReader(file, f).read()
    if kind is not None and kind is not found:
        raise ImportFormatError(file, f"the file is a {found.label} list, expected {kind.label}")
    return found, lst


def _read_binary(path: Path) -> ListFile:
    data = path.read_bytes()
    try:
        return ListFile.parse(data)
    except ListOrderError as exc:
        raise ImportOrderError(path, str(exc), entry=exc.index) from exc
    except InvalidAsnError as exc:
        raise ImportFormatError(path, str(exc), entry=exc.index) from exc
    except ListDateError as exc:
        raise ImportDateError(path, str(exc)) from exc
    except DownloadError as exc:
        raise ImportFormatError(path, str(exc)) from exc


def _parse_uint(text: str, bits: int) -> int:
    value = int(text[2:], 16) if text.lower().startswith("0x") else int(text, 10)
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{text} is outside 0..{(1 << bits) - 1}")
    return value


def _parse_date(text: str) -> dt.date:
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)")
    return dt.date(int(match[1]), int(match[2]), int(match[3]))


class _TextReader:
    """One pass over a text list file. Holds the state of the pass (line numbers, header keys)."""

    def __init__(self, path: Path, f: BinaryIO) -> None:
        self.path = path
        self.f = f
        self.lineno = 0
        self.header: dict[str, tuple[str, int]] = {}
        self.blank_at: int | None = None

    def _error(self, cls: type[ListImportError], line: int | None, problem: str) -> ListImportError:
        return cls(self.path, problem, line=line)

    def read(self) -> tuple[ListKind, ListFile]:
        first = self._read_header()
        body_start = self.lineno
        chunks = [] if first is None else [self._pack([first], body_start)]
        for batch in self._batches():
            chunks.append(self._pack(batch, self.lineno - len(batch) + 1))
        entries = b"".join(chunks)
        return self._build(entries, body_start)

    def _batches(self) -> Iterator[list[bytes]]:
        while batch := list(islice(self.f, TEXT_CHUNK_LINES)):
            self.lineno += len(batch)
            yield batch

    def _read_header(self) -> bytes | None:
        """Consume the header; return the first card-number line (None when the list is empty)."""
        for raw in self.f:
            self.lineno += 1
            line = raw.strip()
            if self.lineno == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :].strip()
            if not line or line.startswith(b"#"):
                continue
            if line.isdigit():
                return line
            key_raw, sep, value_raw = line.partition(b"=")
            try:
                key = key_raw.decode("ascii").strip().lower()
                value = value_raw.decode("ascii").strip()
            except UnicodeDecodeError:
                key = value = ""
            if not sep or not key or not value:
                raise self._error(
                    ImportFormatError,
                    self.lineno,
                    f"expected 'key = value' or a card number, got {_show(line)}",
                )
            if key not in _REQUIRED and key not in _OPTIONAL:
                raise self._error(
                    ImportFormatError,
                    self.lineno,
                    f"unknown key {key!r} (known: {', '.join(_REQUIRED + _OPTIONAL)})",
                )
            if key in self.header:
                raise self._error(
                    ImportFormatError, self.lineno, f"{key!r} repeated (first on line {self.header[key][1]})"
                )
            self.header[key] = (value, self.lineno)
        return None

    def _pack(self, lines: list[bytes], first_line: int) -> bytes:
        """Pack a batch of card-number lines; the fast path is all C-level passes."""
        stripped = list(map(bytes.strip, lines))
        joined = b"".join(stripped)
        if (
            self.blank_at is None
            and len(joined) == ASN_DIGITS * len(stripped)
            and max(map(len, stripped)) == ASN_DIGITS
            and joined.isdigit()
        ):
            return binascii.unhexlify(joined)
        good = []
        for offset, line in enumerate(stripped):
            lineno = first_line + offset
            if not line:
                if self.blank_at is None:
                    self.blank_at = lineno
                continue
            if self.blank_at is not None:
                raise self._error(
                    ImportFormatError,
                    self.blank_at,
                    "blank line inside the card numbers (only trailing allowed)",
                )
            if len(line) != ASN_DIGITS or not line.isdigit():
                raise self._error(
                    ImportFormatError, lineno, f"not a {ASN_DIGITS}-digit card number: {_show(line)}"
                )
            good.append(line)
        return binascii.unhexlify(b"".join(good))

    def _value(self, key: str) -> tuple[str, int]:
        try:
            return self.header[key]
        except KeyError:
            raise self._error(ImportFormatError, None, f"the header lacks {key!r}") from None

    def _number(self, key: str, bits: int) -> int:
        text, line = self._value(key)
        try:
            return _parse_uint(text, bits)
        except ValueError as exc:
            raise self._error(ImportFormatError, line, f"{key}: {exc}") from None

    def _date(self, key: str) -> dt.date:
        text, line = self._value(key)
        try:
            return _parse_date(text)
        except ValueError as exc:
            raise self._error(ImportDateError, line, f"{key}: {exc}") from None

    def _build(self, entries: bytes, body_start: int) -> tuple[ListKind, ListFile]:
        text, line = self._value("kind")
        try:
            kind = ListKind.from_label(text)
        except ValueError as exc:
            raise self._error(ImportFormatError, line, str(exc)) from None
        version = self._number("version", 16)
        area = self._number("area", 16)
        valid_from = self._date("valid_from")
        valid_to = self._date("valid_to")
        if valid_to < valid_from:
            raise self._error(
                ImportDateError,
                self._value("valid_to")[1],
                f"valid_to {valid_to} is before valid_from {valid_from}",
            )
        count = len(entries) // (ASN_DIGITS // 2)
        if "count" in self.header:
            declared = self._number("count", 32)
            if declared != count:
                raise self._error(
                    ImportFormatError,
                    self.header["count"][1],
                    f"count = {declared} but the file holds {count} card numbers",
                )
        try:
            return kind, ListFile(version, valid_from, valid_to, area, entries)
        except ListOrderError as exc:
            raise self._error(ImportOrderError, body_start + exc.index, _order_problem(exc)) from exc
        except DownloadValueError as exc:  # pragma: no cover - every field is range-checked above
            raise self._error(ImportFormatError, None, str(exc)) from exc


def _order_problem(exc: ListOrderError) -> str:
    if exc.asn == exc.previous:
        return f"{exc.asn} repeats the line before (duplicate)"
    return f"{exc.asn} is below the line before ({exc.previous}): lists must be sorted ascending"


def format_text(kind: ListKind, lst: ListFile) -> bytes:
    """The text form of a list (header with `count`, then the card numbers), for export and tests."""
    digits = lst.entries.hex()
    lines = [
        f"kind = {kind.label}",
        f"version = {lst.version}",
        f"valid_from = {lst.valid_from.isoformat()}",
        f"valid_to = {lst.valid_to.isoformat()}",
        f"area = 0x{lst.area:04X}",
        f"count = {lst.count}",
        "",
        *(digits[at : at + ASN_DIGITS] for at in range(0, len(digits), ASN_DIGITS)),
    ]
    return ("\n".join(lines) + "\n").encode("ascii")
