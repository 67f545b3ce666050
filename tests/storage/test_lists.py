"""The list store: lookups, versions, text/binary import, atomic replacement, crash safety."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.downloads import MAX_SEGMENTED_LEN, InvalidAsnError, ListFile, ListKind, pack_asn
from storage import listfiles
from storage import lists as lists_mod
from storage.errors import StorageError
from storage.listfiles import format_text
from storage.lists import (
    LOCK_NAME,
    MANIFEST_NAME,
    ImportDateError,
    ImportFormatError,
    ImportOrderError,
    ListImportError,
    ListSet,
    ListStore,
    ListStoreCorruptError,
    ListStoreError,
    ListStoreLockedError,
    ListStoreWriteError,
    ListVersionError,
    ListVersions,
)

BASE, ADDED, DELETED, WHITE = ListKind.BASE, ListKind.ADDED, ListKind.DELETED, ListKind.WHITE
D1 = dt.date(2024, 1, 1)
D2 = dt.date(2024, 12, 31)
DEADLINE_S = 30.0


def asn(n: int, prefix: str = "1000010000") -> str:
    return f"{prefix}{n:010d}"


def make_list(values: Iterable[int], version: int = 1, prefix: str = "1000010000") -> ListFile:
    return ListFile.from_asns(version, D1, D2, 0x11, [asn(v, prefix) for v in sorted(values)])


def disk_state(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def reopen(store: ListStore) -> ListSet:
    """What a restarted process finds: close the store, open the directory afresh."""
    store.close()
    with ListStore.open(store.directory) as again:
        return again.current


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ListStore]:
    with ListStore.open(tmp_path / "lists") as opened:
        yield opened


# --- snapshot and lookups --------------------------------------------------------------------------


def test_empty_store(store: ListStore) -> None:
    lists = store.current
    assert lists.versions == ListVersions(0, 0, 0, 0)
    assert lists.counts == dict.fromkeys(ListKind, 0)
    assert not lists.is_blacklisted(asn(1))
    assert not lists.is_whitelisted(asn(1))
    assert lists.download_bytes(BASE) == b""
    assert lists.validity(WHITE) is None
    assert not lists.blacklists_valid_on(D1)
    assert not (store.directory / MANIFEST_NAME).exists()


blacklist_sets = st.sets(st.integers(0, 60), max_size=40)


@settings(max_examples=60)
@given(blacklist_sets, blacklist_sets, blacklist_sets, blacklist_sets)
def test_lookups_match_python_sets(
    base: set[int], added: set[int], deleted: set[int], white: set[int]
) -> None:
    lists = ListSet.from_files(
        {BASE: make_list(base), ADDED: make_list(added), DELETED: make_list(deleted), WHITE: make_list(white)}
    )
    black = (base | added) - deleted
    for n in range(-1, 62):
        card = asn(n) if n >= 0 else asn(0, "9999999999")
        assert lists.is_blacklisted(card) == (n in black)
        assert lists.is_blacklisted(pack_asn(card)) == (n in black)
        assert lists.is_whitelisted(card) == (n in white)
        assert (card in lists.get(BASE)) == (n in base)  # type: ignore[operator]


def test_lookup_without_some_lists() -> None:
    only_base = ListSet.from_files({BASE: make_list({1, 2})})
    assert only_base.is_blacklisted(asn(1)) and not only_base.is_blacklisted(asn(3))
    only_added = ListSet.from_files({ADDED: make_list({3}), DELETED: make_list({1})})
    assert only_added.is_blacklisted(asn(3)) and not only_added.is_blacklisted(asn(1))


def test_filler_nibbles_are_never_listed() -> None:
    lists = ListSet.from_files({BASE: make_list({1}), WHITE: make_list({1})})
    assert lists.is_blacklisted(asn(1).upper())
    for odd in ("100001000000000000FF", "100001000000000000ff", "FFFFFFFFFFFFFFFFFFFF"):
        assert not lists.is_blacklisted(odd)
        assert not lists.is_whitelisted(odd)


@pytest.mark.parametrize(
    "bad", ["123", "1000010000000000000G", "10000100000000000 01", "１" * 20, b"short", 12345]
)
def test_lookup_rejects_bad_card_numbers(bad: object) -> None:
    with pytest.raises(InvalidAsnError):
        ListSet().is_blacklisted(bad)  # type: ignore[arg-type]


def test_snapshot_reports_versions_counts_dates_and_download_bytes(store: ListStore) -> None:
    lists = {
        BASE: make_list({1, 2, 3}, version=0x1234),
        ADDED: make_list({4}, version=0x0105),
        DELETED: make_list({2}, version=0x0207),
        WHITE: make_list({9}, version=0x0009, prefix="1000040000"),
    }
    snap = store.replace_many(lists)
    assert snap is store.current
    assert snap.versions == ListVersions(bl_ver=0x1234, add_bl_ver=0x05, del_bl_ver=0x07, wh_ver=0x09)
    assert snap.counts == {BASE: 3, ADDED: 1, DELETED: 1, WHITE: 1}
    assert snap.validity(BASE) == (D1, D2)
    assert snap.blacklists_valid_on(dt.date(2024, 6, 1))
    assert not snap.blacklists_valid_on(dt.date(2025, 1, 1))
    for kind, lst in lists.items():
        assert snap.download_bytes(kind) == lst.build()
        assert snap.download_bytes(int(kind)) == lst.build()
    with pytest.raises(ValueError, match="not a list"):
        snap.download_bytes(4)
    assert all(snap.downloadable(kind) for kind in ListKind)
    assert snap.is_blacklisted(asn(1)) and not snap.is_blacklisted(asn(2)) and snap.is_blacklisted(asn(4))


def test_lists_survive_a_restart(store: ListStore) -> None:
    store.replace_many({BASE: make_list({1, 2}), WHITE: make_list({7}, prefix="1000040000")})
    store.replace(ADDED, make_list({5}))
    assert reopen(store) == store.current
    assert store.current.generation == 2
    manifest = json.loads((store.directory / MANIFEST_NAME).read_text())
    assert manifest["lists"]["base"] | {"file": None, "sha256": None} == {
        "file": None,
        "sha256": None,
        "version": 1,
        "valid_from": "2024-01-01",
        "valid_to": "2024-12-31",
        "area": 0x11,
        "count": 2,
        "size": 36,
    }
    assert sorted(p.name for p in store.directory.iterdir()) == [
        "added-00000002.lst",
        "base-00000001.lst",
        LOCK_NAME,
        MANIFEST_NAME,
        "white-00000001.lst",
    ]


def test_lists_beyond_segment_addressing_are_flagged() -> None:
    fits = (MAX_SEGMENTED_LEN - 16) // 10
    assert ListSet.from_files({BASE: make_list(range(fits))}).downloadable(BASE)
    assert not ListSet.from_files({BASE: make_list(range(fits + 1))}).downloadable(BASE)


def test_old_snapshot_stays_consistent_after_a_replace(store: ListStore) -> None:
    store.replace(BASE, make_list({1}, version=1))
    old = store.current
    store.replace(BASE, make_list({2}, version=2))
    assert old.is_blacklisted(asn(1)) and not old.is_blacklisted(asn(2))
    assert store.current.is_blacklisted(asn(2)) and not store.current.is_blacklisted(asn(1))
    assert old.download_bytes(BASE) == make_list({1}, version=1).build()


# --- versions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "current", "offered", "reason"),
    [
        (BASE, 5, 5, "not newer"),
        (BASE, 5, 4, "not newer"),
        (BASE, None, 0, "is 0"),
        (ADDED, None, 0x0100, "low byte of the version is 0"),
        (ADDED, 0x0005, 0x0105, "low byte"),
        (WHITE, 0x00FF, 0x0100, "is 0"),
    ],
)
def test_version_rules(
    store: ListStore, kind: ListKind, current: int | None, offered: int, reason: str
) -> None:
    if current is not None:
        store.replace(kind, make_list({1}, version=current))
    before = store.current
    with pytest.raises(ListVersionError, match=reason) as info:
        store.replace(kind, make_list({2}, version=offered))
    assert (info.value.kind, info.value.current, info.value.offered) == (kind, current, offered)
    assert store.current is before
    store.replace(kind, make_list({2}, version=offered), force=True)
    assert store.current.get(kind).version == offered  # type: ignore[union-attr]


def test_base_version_compares_all_16_bits(store: ListStore) -> None:
    store.replace(BASE, make_list({1}, version=0x00FF))
    store.replace(BASE, make_list({1}, version=0x0100))
    assert store.current.versions.bl_ver == 0x0100


def test_replace_many_is_all_or_nothing(store: ListStore) -> None:
    store.replace_many({BASE: make_list({1}, version=3), ADDED: make_list({2}, version=3)})
    before, on_disk = store.current, disk_state(store.directory)
    with pytest.raises(ListVersionError):
        store.replace_many({BASE: make_list({5}, version=4), ADDED: make_list({6}, version=3)})
    assert store.current is before
    assert disk_state(store.directory) == on_disk


# --- text import -----------------------------------------------------------------------------------

HEADER = """\
# list from the centre
kind = base
version = 7
valid_from = 2024-01-01
valid_to = 20241231
area = 0x0011

"""


def write(tmp_path: Path, text: str | bytes, name: str = "list.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def numbers(*values: int) -> str:
    return "".join(asn(v) + "\n" for v in values)


def test_text_import(store: ListStore, tmp_path: Path) -> None:
    snap = store.import_file(write(tmp_path, HEADER + numbers(1, 2, 3)))
    assert snap.get(BASE).header.version == 7  # type: ignore[union-attr]
    assert snap.get(BASE).header.area == 0x11  # type: ignore[union-attr]
    assert snap.validity(BASE) == (D1, D2)
    assert [snap.is_blacklisted(asn(n)) for n in range(5)] == [False, True, True, True, False]


def test_text_import_tolerates_crlf_bom_spaces_and_trailing_blank_lines(
    store: ListStore, tmp_path: Path
) -> None:
    text = (HEADER + "count = 2\n" + asn(1) + "  \n" + asn(2) + "\n\n\n").replace("\n", "\r\n")
    snap = store.import_file(write(tmp_path, b"\xef\xbb\xbf" + text.encode()))
    assert snap.counts[BASE] == 2


def test_text_import_of_an_empty_list(store: ListStore, tmp_path: Path) -> None:
    snap = store.import_file(write(tmp_path, HEADER.replace("base", "deleted")))
    assert snap.counts[DELETED] == 0
    assert snap.download_bytes(DELETED) == make_list(set(), version=7).build()


def test_format_text_round_trips(store: ListStore, tmp_path: Path) -> None:
    lst = make_list({3, 1, 2}, version=9, prefix="1000040000")
    snap = store.import_file(write(tmp_path, format_text(WHITE, lst).decode()))
    assert snap.download_bytes(WHITE) == lst.build()


BAD_TEXTS = [
    (HEADER + numbers(1, 3, 2), ImportOrderError, 10, "below the line before"),
    (HEADER + numbers(1, 2, 2), ImportOrderError, 10, "duplicate"),
    (HEADER + numbers(1) + "100001000000000000\n", ImportFormatError, 9, "not a 20-digit"),
    (HEADER + numbers(1) + "1000010000000000000X\n", ImportFormatError, 9, "not a 20-digit"),
    (HEADER + numbers(1) + "# comment\n", ImportFormatError, 9, "not a 20-digit"),
    (HEADER + numbers(1) + "\n" + numbers(2), ImportFormatError, 9, "blank line inside"),
    (HEADER + "colour = blue\n", ImportFormatError, 8, "unknown key"),
    (HEADER + "version = 8\n", ImportFormatError, 8, "repeated"),
    (HEADER + "this line is wrong\n", ImportFormatError, 8, "expected 'key = value'"),
    (HEADER + "count = 3\n" + numbers(1, 2), ImportFormatError, 8, "count = 3 but the file holds 2"),
    (HEADER.replace("kind = base", "kind = grey"), ImportFormatError, 2, "unknown list kind"),
    (HEADER.replace("version = 7", "version = seven"), ImportFormatError, 3, "version"),
    (HEADER.replace("version = 7", "version = 65536"), ImportFormatError, 3, "outside"),
    (HEADER.replace("area = 0x0011", "area = 0x1FFFF"), ImportFormatError, 6, "outside"),
    (HEADER.replace("version = 7\n", ""), ImportFormatError, None, "lacks 'version'"),
    (HEADER.replace("2024-01-01", "2024-02-30"), ImportDateError, 4, "valid_from"),
    (HEADER.replace("2024-01-01", "1st of January"), ImportDateError, 4, "not a date"),
    (HEADER.replace("20241231", "20231231"), ImportDateError, 5, "before valid_from"),
]


@pytest.mark.parametrize(("text", "error", "line", "problem"), BAD_TEXTS)
def test_text_import_rejections_keep_the_previous_lists(
    store: ListStore, tmp_path: Path, text: str, error: type[ListImportError], line: int | None, problem: str
) -> None:
    store.replace(BASE, make_list({100}, version=1))
    before, on_disk = store.current, disk_state(store.directory)
    with pytest.raises(error, match=problem) as info:
        store.import_file(write(tmp_path, text))
    assert info.value.line == line
    assert store.current is before
    assert disk_state(store.directory) == on_disk


def test_text_import_refuses_an_old_version_unless_forced(store: ListStore, tmp_path: Path) -> None:
    store.replace(BASE, make_list({100}, version=7))
    path = write(tmp_path, HEADER + numbers(1))
    with pytest.raises(ListVersionError):
        store.import_file(path)
    assert store.current.is_blacklisted(asn(100))
    store.import_file(path, force=True)
    assert store.current.is_blacklisted(asn(1)) and not store.current.is_blacklisted(asn(100))


def test_text_import_kind_must_match(store: ListStore, tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="is a base list, expected white"):
        store.import_file(write(tmp_path, HEADER + numbers(1)), kind=WHITE)


def test_text_import_missing_file(store: ListStore, tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="cannot read"):
        store.import_file(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        (numbers(*range(10)) + numbers(9), 18, "duplicate"),
        (numbers(*range(6)) + "bad\n" + numbers(7), 14, "not a 20-digit"),
        (numbers(*range(4)) + "\n\n\n" + numbers(9), 12, "blank line inside"),
    ],
)
def test_text_line_numbers_across_chunks(
    store: ListStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, line: int, problem: str
) -> None:
    monkeypatch.setattr(listfiles, "TEXT_CHUNK_LINES", 3)
    with pytest.raises(ListImportError, match=problem) as info:
        store.import_file(write(tmp_path, HEADER + body))
    assert info.value.line == line


def test_text_chunks_with_trailing_blank_lines(
    store: ListStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listfiles, "TEXT_CHUNK_LINES", 2)
    snap = store.import_file(write(tmp_path, HEADER + numbers(*range(7)) + "\n" * 5))
    assert snap.download_bytes(BASE) == make_list(range(7), version=7).build()


# --- binary import ---------------------------------------------------------------------------------


def test_binary_import(store: ListStore, tmp_path: Path) -> None:
    lst = make_list({5, 6}, version=4)
    path = tmp_path / "added.bin"
    path.write_bytes(lst.build())
    assert listfiles.detect_format(path) == "binary"
    with pytest.raises(ImportFormatError, match="give its kind"):
        store.import_file(path)
    snap = store.import_file(path, kind=ADDED)
    assert snap.download_bytes(ADDED) == lst.build()


def test_binary_import_rejections_name_the_entry(store: ListStore, tmp_path: Path) -> None:
    good = make_list({1, 2, 3}).build()
    unsorted = good[:16] + good[26:36] + good[16:26] + good[36:]
    path = tmp_path / "base.bin"
    path.write_bytes(unsorted)
    with pytest.raises(ImportOrderError) as order:
        store.import_file(path, kind=BASE)
    assert (order.value.entry, order.value.line) == (1, None)
    path.write_bytes(good[:-1])
    with pytest.raises(ImportFormatError, match="COUNT"):
        store.import_file(path, kind=BASE, fmt="binary")
    assert store.current == ListSet()


# --- corruption at start-up ------------------------------------------------------------------------


@pytest.fixture
def filled(store: ListStore) -> ListStore:
    store.replace_many({BASE: make_list(range(50)), WHITE: make_list({1}, prefix="1000040000")})
    return store


def _base_file(store: ListStore) -> Path:
    return store.directory / store.current.get(BASE).file  # type: ignore[union-attr]


def test_open_detects_a_flipped_byte(filled: ListStore) -> None:
    path = _base_file(filled)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01  # still sorted and BCD: only the checksum can tell
    path.write_bytes(bytes(data))
    filled.close()
    with pytest.raises(ListStoreCorruptError, match="SHA-256"):
        ListStore.open(filled.directory)


def test_open_detects_a_missing_file(filled: ListStore) -> None:
    _base_file(filled).unlink()
    filled.close()
    with pytest.raises(ListStoreCorruptError, match="missing"):
        ListStore.open(filled.directory)


def test_open_detects_a_truncated_file(filled: ListStore) -> None:
    path = _base_file(filled)
    path.write_bytes(path.read_bytes()[:-10])
    filled.close()
    with pytest.raises(ListStoreCorruptError, match="size"):
        ListStore.open(filled.directory)


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: "{not json",
        lambda m: json.dumps({**m, "format": 99}),
        lambda m: json.dumps({**m, "generation": "x"}),
        lambda m: json.dumps({**m, "lists": {**m["lists"], "grey": m["lists"]["base"]}}),
        lambda m: json.dumps({**m, "lists": {"base": {**m["lists"]["base"], "file": "../../etc/passwd"}}}),
        lambda m: json.dumps({**m, "lists": {"white": m["lists"]["base"]}}),
        lambda m: json.dumps({**m, "lists": {"base": {**m["lists"]["base"], "version": 99}}}),
        lambda m: json.dumps({**m, "lists": {"base": 5}}),
    ],
)
def test_open_detects_a_bad_manifest(filled: ListStore, damage: object) -> None:
    path = filled.directory / MANIFEST_NAME
    path.write_text(damage(json.loads(path.read_text())))  # type: ignore[operator]
    filled.close()
    with pytest.raises(ListStoreCorruptError):
        ListStore.open(filled.directory)
    # a failed open releases the directory
    (path.parent / MANIFEST_NAME).unlink()
    with ListStore.open(filled.directory) as empty:
        assert empty.current == ListSet()


def test_errors_belong_to_storage() -> None:
    for cls in (
        ListStoreCorruptError,
        ListStoreLockedError,
        ListStoreWriteError,
        ListVersionError,
        ListImportError,
    ):
        assert issubclass(cls, ListStoreError)
    assert issubclass(ListStoreError, StorageError)


def test_one_store_per_directory(store: ListStore) -> None:
    with pytest.raises(ListStoreLockedError):
        ListStore.open(store.directory)
    store.replace(BASE, make_list({1}))
    store.close()
    store.close()
    with pytest.raises(ListStoreError, match="closed"):
        store.replace(BASE, make_list({2}, version=2))
    assert store.current.is_blacklisted(asn(1))
    with ListStore.open(store.directory) as again:
        assert again.current == store.current


def test_open_removes_stale_files_only(filled: ListStore) -> None:
    directory = filled.directory
    for name in (".tmp-abc", "base-00000099.lst", "notes.txt"):
        (directory / name).write_bytes(b"x")
    assert reopen(filled) == filled.current
    names = {p.name for p in directory.iterdir()}
    assert "notes.txt" in names and ".tmp-abc" not in names and "base-00000099.lst" not in names


# --- atomicity and crash safety --------------------------------------------------------------------


def test_failure_before_the_manifest_keeps_the_old_lists(
    filled: ListStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, on_disk = filled.current, disk_state(filled.directory)

    def fail(directory: Path, manifest: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lists_mod, "_commit_manifest", fail)
    with pytest.raises(ListStoreWriteError, match="No space"):
        filled.replace_many({BASE: make_list({7}, version=2), ADDED: make_list({8}, version=2)})
    assert filled.current is before
    assert disk_state(filled.directory) == on_disk
    assert reopen(filled) == before


def test_failure_writing_the_second_file_removes_the_first(
    filled: ListStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_disk = disk_state(filled.directory)
    real = lists_mod._write_atomic
    calls: list[str] = []

    def second_fails(directory: Path, name: str, data: bytes) -> None:
        calls.append(name)
        if len(calls) == 2:
            raise OSError(errno.EIO, "I/O error")
        real(directory, name, data)

    monkeypatch.setattr(lists_mod, "_write_atomic", second_fails)
    with pytest.raises(ListStoreWriteError):
        filled.replace_many({BASE: make_list({7}, version=2), ADDED: make_list({8}, version=2)})
    assert len(calls) == 2
    assert disk_state(filled.directory) == on_disk


class Crash(BaseException):
    """Stands for the process dying: not an Exception, nothing may swallow it."""


def test_interrupt_before_the_commit_point(filled: ListStore, monkeypatch: pytest.MonkeyPatch) -> None:
    before = filled.current

    def crash(directory: Path, manifest: object) -> None:
        raise Crash

    monkeypatch.setattr(lists_mod, "_commit_manifest", crash)
    with pytest.raises(Crash):
        filled.replace(BASE, make_list({7}, version=2))
    assert filled.current is before
    assert reopen(filled) == before


def test_interrupt_after_the_commit_point(filled: ListStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real = lists_mod._commit_manifest

    def commit_then_crash(directory: Path, manifest: dict[str, object]) -> None:
        real(directory, manifest)
        raise Crash

    monkeypatch.setattr(lists_mod, "_commit_manifest", commit_then_crash)
    with pytest.raises(Crash):
        filled.replace(BASE, make_list({7}, version=2))
    assert filled.current.is_blacklisted(asn(7))  # memory agrees with the disk
    after = reopen(filled)
    assert after == filled.current
    assert after.is_blacklisted(asn(7)) and not after.is_blacklisted(asn(3))


CHILD = textwrap.dedent(
    """
    import datetime as dt, os, sys
    import storage.lists as m
    from protocol.downloads import ListFile, ListKind

    store = m.ListStore.open(sys.argv[1])
    if sys.argv[2] == "before-commit":
        m._commit_manifest = lambda *args: os._exit(17)
    else:
        m._remove_unreferenced = lambda *args: os._exit(17)
    new = ListFile.from_asns(2, dt.date(2024, 1, 1), dt.date(2024, 12, 31), 17, ["20000100000000000001"])
    store.replace_many({ListKind.BASE: new, ListKind.ADDED: new})
    """
)


@pytest.mark.parametrize(("moment", "survivor"), [("before-commit", "old"), ("after-commit", "new")])
def test_killed_process_leaves_old_or_new_never_a_mix(filled: ListStore, moment: str, survivor: str) -> None:
    before = filled.current
    filled.close()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(filled.directory), moment], capture_output=True, timeout=DEADLINE_S
    )
    assert child.returncode == 17, child.stderr.decode()
    with ListStore.open(filled.directory) as again:
        after = again.current
    new_card = "20000100000000000001"
    if survivor == "old":
        assert after == before
    else:
        assert after.generation == before.generation + 1
        assert after.get(BASE).count == 1 and after.get(ADDED).count == 1  # type: ignore[union-attr]
        assert after.is_blacklisted(new_card) and not after.is_blacklisted(asn(3))
        assert after.white == before.white
    referenced = {s.file for k in ListKind if (s := after.get(k)) is not None}
    assert {p.name for p in filled.directory.iterdir()} == referenced | {MANIFEST_NAME, LOCK_NAME}


# --- concurrent readers ----------------------------------------------------------------------------

N_READERS = 4
ROUNDS = 8
SIZE = 50_000


def _round_lists(round_no: int) -> dict[ListKind, ListFile]:
    """Even rounds hold sets A (base) and A2 (added), odd rounds the disjoint B and B2."""
    side = round_no % 2
    base = ListFile.from_asns(round_no, D1, D2, 0x11, (asn(2 * i + side) for i in range(SIZE)))
    added = ListFile.from_asns(
        round_no, D1, D2, 0x11, (asn(2 * i + side, "1000020000") for i in range(SIZE // 10))
    )
    return {BASE: base, ADDED: added}


PROBES = [
    (asn(2 * i), asn(2 * i + 1), asn(2 * i, "1000020000"), asn(2 * i + 1, "1000020000"))
    for i in (0, 777, 4_999)
]


def check_snapshot(snap: ListSet) -> int:
    """The invariant: a snapshot is entirely round r's lists, and r is what its versions say."""
    round_no = snap.versions.bl_ver
    assert snap.versions.add_bl_ver == round_no
    even = round_no % 2 == 0
    for a, b, a2, b2 in PROBES:
        assert (snap.is_blacklisted(a), snap.is_blacklisted(b)) == (even, not even)
        assert (snap.is_blacklisted(a2), snap.is_blacklisted(b2)) == (even, not even)
    return round_no


def test_the_invariant_catches_a_mixed_snapshot() -> None:
    old, new = ListSet.from_files(_round_lists(2)), ListSet.from_files(_round_lists(3))
    check_snapshot(old)
    check_snapshot(new)
    with pytest.raises(AssertionError):
        check_snapshot(ListSet(base=new.base, added=old.added))


def test_readers_see_old_or_new_never_a_mix(store: ListStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.replace_many(_round_lists(2))
    prepared = {r: _round_lists(r) for r in range(3, 3 + ROUNDS)}
    done = threading.Event()
    progress = threading.Condition()
    checks = [0]
    seen: set[int] = set()
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                seen.add(check_snapshot(store.current))
                with progress:
                    checks[0] += 1
                    progress.notify_all()
        except BaseException as exc:
            failures.append(exc)
            with progress:
                progress.notify_all()

    real_commit = lists_mod._commit_manifest

    def commit_while_readers_run(directory: Path, manifest: dict[str, object]) -> None:
        # Hold the commit window open until every reader had a chance to look during it.
        with progress:
            target = checks[0] + 4 * N_READERS
            assert progress.wait_for(lambda: checks[0] >= target or failures, timeout=DEADLINE_S)
        real_commit(directory, manifest)

    monkeypatch.setattr(lists_mod, "_commit_manifest", commit_while_readers_run)
    threads = [threading.Thread(target=reader) for _ in range(N_READERS)]
    for t in threads:
        t.start()
    try:
        for round_no, new in prepared.items():
            store.replace_many(new)
            assert check_snapshot(store.current) == round_no
    finally:
        done.set()
        for t in threads:
            t.join(DEADLINE_S)
    assert not failures, failures[0]
    assert seen <= set(range(2, 3 + ROUNDS))
    assert len(seen) >= ROUNDS  # readers really overlapped the replacements
    assert reopen(store) == store.current


def test_concurrent_writers_serialise(store: ListStore) -> None:
    lists = [make_list({v}, version=v) for v in range(1, 9)]
    barrier = threading.Barrier(len(lists))
    errors: list[BaseException] = []

    def writer(lst: ListFile) -> None:
        barrier.wait(DEADLINE_S)
        try:
            store.replace(BASE, lst, force=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(lst,)) for lst in lists]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    assert not errors
    assert store.current.generation == len(lists)
    assert reopen(store) == store.current
    assert len(os.listdir(store.directory)) == 3
