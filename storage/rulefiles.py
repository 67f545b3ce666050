"""Files the centre (or an operator) hands in for the card rules: grey records of other stations and the
working-day calendar. TOML, or JSON when the file starts with `{`; formats in docs/rules.md.

Layer: storage (pure reading and checking; no database). Every problem is reported at once, with the
file, the line where it can be found and the key (`greys.toml: line 12: records[1].time: ...`); nothing
is applied from a file with a problem.

Grey records (`read_grey_file`) — the complete set this station may unlock; an import replaces the set::

    [[records]]
    station = "00000077"          S_ID of the station where the card was locked (8 digits)
    province = "11"               that station's province (2 BCD digits; default: this station's)
    line = "bus2"                 optional
    dispenser = 3                 its dispenser (POS-P)
    raw = "<190 hex digits>"      the 95 record bytes (T_TYPE low nibble 1), or the fields below:
    asn = "10000101100000000003"  bal, ctc, ds (default 0), time = 2026-01-15T08:30:00, amn,
                                  gmac, psam_tid = "12 hex digits", psam_ttc
    locked_at = 2026-01-15T08:30:00   optional: when it was locked (default: the record's TIME)

Calendar (`read_calendar_file`)::

    weekend = [5, 6]                          optional, date.weekday() numbers (Monday 0)
    holidays = [2026-10-01, 2026-10-02]       ascending, each once (dates or "YYYY-MM-DD")
    shifted_working_days = [2026-09-27]       weekend days that are working days (调休)
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Final

from protocol.codec import decode_record
from protocol.errors import ProtocolError
from protocol.record import RECORD_LEN, TxKind
from storage.calendar import DEFAULT_WEEKEND, CalendarData
from storage.errors import StorageError
from storage.greys import RemoteGrey

__all__ = ["RuleFileError", "read_calendar_file", "read_document", "read_grey_file"]

MAX_GREY_RECORDS: Final = 100_000
_GREY_KEYS: Final = frozenset(
    {
        "station",
        "province",
        "line",
        "dispenser",
        "pos_ttc",
        "raw",
        "asn",
        "bal",
        "ctc",
        "ds",
        "time",
        "amn",
        "gmac",
        "psam_tid",
        "psam_ttc",
        "locked_at",
    }
)
_FIELDS: Final = ("asn", "bal", "ctc", "time", "amn", "gmac", "psam_tid", "psam_ttc")


class RuleFileError(StorageError):
    """A grey-record or calendar file cannot be accepted; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid file:\n  " + "\n  ".join(problems))
        self.problems = problems


class _Problems:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.items: list[str] = []

    def line_of(
        self, needle: str, table: str | None = None, index: int = 0, *, after: int = 0, nth: int = 0
    ) -> int | None:
        """Best-effort 1-based line: the index-th `[[table]]` header, or the nth line (0 = first) holding
        `needle` from line `after` on (inside that table when given)."""
        start, end = after, len(self.lines)
        if table is not None:
            headers = [i for i, ln in enumerate(self.lines) if ln.strip().startswith(f"[[{table}]]")]
            if index < len(headers):
                start = headers[index]
                end = next((i for i in range(start + 1, end) if self.lines[i].lstrip().startswith("[")), end)
                if not needle:
                    return start + 1
        if not needle:
            return None
        found = [i + 1 for i in range(start, end) if needle in self.lines[i]]
        return found[min(nth, len(found) - 1)] if found else None

    def add(self, key: str, what: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        self.items.append(f"{self.path.name}: {where}{key}: {what}")


def read_document(path: str | Path) -> tuple[Any, str]:
    """The parsed TOML / JSON document and its text; `RuleFileError` when it cannot be read or parsed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError([f"{p.name}: cannot read the file: {exc}"]) from exc
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleFileError([f"{p.name}: line {exc.lineno}: not valid JSON: {exc.msg}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError([f"{p.name}: not valid TOML: {exc}"]) from exc
    except RecursionError as exc:
        raise RuleFileError([f"{p.name}: nested too deeply"]) from exc
    if not isinstance(doc, dict):
        raise RuleFileError([f"{p.name}: must be a table (JSON object)"])
    return doc, text


def _uint(value: Any, bits: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << bits):
        return value
    return None


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is None else None
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return moment if moment.tzinfo is None else None
    return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


# --- grey records ----------------------------------------------------------------------------------


def read_grey_file(path: str | Path, *, station_province: int) -> list[RemoteGrey]:
    """Read and check a grey-record file; `station_province` is the default province (0x11 form)."""
    p = Path(path)
    doc, text = read_document(p)
    problems = _Problems(p, text)
    for key in doc:
        if key != "records":
            problems.add(key, "unknown key (expected [[records]])", problems.line_of(key))
    raw_records = doc.get("records")
    if not isinstance(raw_records, list):
        problems.add("records", "missing, or not an array of tables ([[records]])")
        raise RuleFileError(problems.items)
    if len(raw_records) > MAX_GREY_RECORDS:
        problems.add("records", f"more than {MAX_GREY_RECORDS} records")
    out: list[RemoteGrey] = []
    seen: dict[tuple[str, int, int, int, dt.datetime], int] = {}
    for i, item in enumerate(raw_records):
        grey = _grey(problems, item, i, station_province)
        if grey is None:
            continue
        key = (grey.asn, grey.bal, grey.ctc, grey.ds, grey.time)
        if key in seen:
            problems.add(
                f"records[{i}]",
                f"the same grey record (ASN, BAL, CTC, DS, TIME) as records[{seen[key]}]",
                problems.line_of("", "records", i),
            )
            continue
        seen[key] = i
        out.append(grey)
    if problems.items:
        raise RuleFileError(problems.items)
    return out


def _grey(problems: _Problems, item: Any, i: int, default_province: int) -> RemoteGrey | None:
    where = f"records[{i}]"
    line = problems.line_of("", "records", i)
    if not isinstance(item, dict):
        problems.add(where, "must be a table", line)
        return None
    before = len(problems.items)
    for key in item:
        if key not in _GREY_KEYS:
            problems.add(f"{where}.{key}", "unknown key", line)
    station = item.get("station")
    if not isinstance(station, str) or not station.strip():
        problems.add(f"{where}.station", "missing: the S_ID of the station where the card was locked", line)
    province_text = item.get("province")
    province = default_province
    if province_text is not None:
        if isinstance(province_text, str) and re.fullmatch(r"\d{2}", province_text):
            province = int(province_text, 16)
        else:
            problems.add(
                f"{where}.province", f'must be 2 BCD digits such as "11", got {province_text!r}', line
            )
    dispenser = _uint(item.get("dispenser"), 8)
    if dispenser is None:
        problems.add(f"{where}.dispenser", f"must be a POS-P 0..255, got {item.get('dispenser')!r}", line)
    line_name = item.get("line", "")
    if not isinstance(line_name, str):
        problems.add(f"{where}.line", "must be text", line)
        line_name = ""
    locked_at = None
    if "locked_at" in item:
        locked_at = _time(item["locked_at"])
        if locked_at is None:
            problems.add(f"{where}.locked_at", f"{item['locked_at']!r} is not a local date-time", line)
    fields = (
        _from_raw(problems, item, where, line) if "raw" in item else _from_fields(problems, item, where, line)
    )
    if fields is None or len(problems.items) > before:
        return None
    assert isinstance(station, str) and dispenser is not None
    return RemoteGrey(
        station_id=station.strip(),
        province=province,
        dispenser=dispenser,
        line=line_name,
        locked_at=locked_at,
        **fields,
    )


def _from_raw(
    problems: _Problems, item: dict[str, Any], where: str, line: int | None
) -> dict[str, Any] | None:
    for key in (*_FIELDS, "ds"):
        if key in item:
            problems.add(f"{where}.{key}", "give either raw or the record's fields, not both", line)
            return None
    text = item["raw"]
    try:
        raw = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != RECORD_LEN:
        problems.add(f"{where}.raw", f"must be {2 * RECORD_LEN} hex digits (the 95 record bytes)", line)
        return None
    try:
        rec = decode_record(raw)
    except ProtocolError as exc:
        problems.add(f"{where}.raw", f"not a record: {exc}", line)
        return None
    if rec.t_type & 0x0F != TxKind.GREY:
        problems.add(f"{where}.raw", f"not a grey record (T_TYPE {rec.t_type:#04x})", line)
        return None
    if "pos_ttc" in item and item["pos_ttc"] != rec.pos_ttc:
        problems.add(f"{where}.pos_ttc", f"raw carries POS_TTC {rec.pos_ttc}, not {item['pos_ttc']!r}", line)
        return None
    if not isinstance(rec.time, dt.datetime):
        problems.add(f"{where}.raw", "the record's TIME is not a valid time", line)
        return None
    if not str(rec.asn).isdigit():
        problems.add(f"{where}.raw", f"the record's ASN {rec.asn} is not a card number", line)
        return None
    return {
        "asn": str(rec.asn),
        "bal": int(rec.bal),
        "ctc": int(rec.ctc),
        "ds": int(rec.ds),
        "time": rec.time,
        "amn": int(rec.amn),
        "gmac": int(rec.gmac),
        "psam_tid": bytes(rec.psam_tid),
        "psam_ttc": int(rec.psam_ttc),
        "raw": raw,
    }


def _from_fields(
    problems: _Problems, item: dict[str, Any], where: str, line: int | None
) -> dict[str, Any] | None:
    missing = [key for key in _FIELDS if key not in item]
    if missing:
        problems.add(where, f"needs raw, or all of {', '.join(_FIELDS)} (missing {', '.join(missing)})", line)
        return None
    asn = item["asn"]
    if not isinstance(asn, str) or len(asn) != 20 or not asn.isdigit():
        problems.add(f"{where}.asn", f"must be 20 digits, got {asn!r}", line)
    time = _time(item["time"])
    if time is None:
        problems.add(
            f"{where}.time", f"{item['time']!r} is not a local date-time (2026-01-15T08:30:00)", line
        )
    elif time.microsecond:
        problems.add(f"{where}.time", "must be whole seconds (TIME7)", line)
    values: dict[str, int] = {}
    for key, bits in (("bal", 32), ("ctc", 16), ("ds", 8), ("amn", 24), ("gmac", 32), ("psam_ttc", 32)):
        value = _uint(item.get(key, 0), bits)
        if value is None:
            problems.add(
                f"{where}.{key}", f"must be an integer 0..{(1 << bits) - 1}, got {item.get(key)!r}", line
            )
        else:
            values[key] = value
    tid_text = item["psam_tid"]
    tid = b""
    if isinstance(tid_text, str) and re.fullmatch(r"[0-9A-Fa-f]{12}", tid_text):
        tid = bytes.fromhex(tid_text)
    else:
        problems.add(f"{where}.psam_tid", f"must be 12 hex digits, got {tid_text!r}", line)
    if time is None or len(tid) != 6 or len(values) != 6 or not isinstance(asn, str):
        return None
    return {"asn": asn, "time": time, "psam_tid": tid, **values}


# --- calendar --------------------------------------------------------------------------------------


def read_calendar_file(path: str | Path) -> CalendarData:
    """Read and check a calendar file; `RuleFileError` lists every problem."""
    p = Path(path)
    doc, text = read_document(p)
    problems = _Problems(p, text)
    if not any(key in doc for key in ("weekend", "holidays", "shifted_working_days")):
        # an empty file would replace the calendar with none: refused; `holidays = []` clears it on purpose
        raise RuleFileError([f"{p.name}: empty calendar (no weekend, holidays or shifted_working_days)"])
    for key in doc:
        if key not in ("weekend", "holidays", "shifted_working_days"):
            problems.add(key, "unknown key", problems.line_of(key))
    weekend: frozenset[int] = DEFAULT_WEEKEND
    if "weekend" in doc:
        raw = doc["weekend"]
        days = [d for d in raw if _uint(d, 3) is not None and d <= 6] if isinstance(raw, list) else []
        if not isinstance(raw, list) or len(days) != len(raw) or len(set(days)) != len(days):
            problems.add(
                "weekend",
                "must be distinct weekday numbers 0 (Monday) .. 6 (Sunday)",
                problems.line_of("weekend"),
            )
        elif len(days) == 7:
            problems.add("weekend", "cannot hold every weekday", problems.line_of("weekend"))
        else:
            weekend = frozenset(days)
    lists: dict[str, frozenset[dt.date]] = {}
    for key in ("holidays", "shifted_working_days"):
        raw = doc.get(key, [])
        if not isinstance(raw, list):
            problems.add(key, "must be an array of dates", problems.line_of(key))
            continue
        dates: list[dt.date] = []
        key_line = problems.line_of(key) or 1
        for j, value in enumerate(raw):
            day = _date(value)
            needle = value if isinstance(value, str) else str(value)
            nth = sum(1 for v in raw[:j] if v == value)
            line = problems.line_of(needle, after=key_line - 1, nth=nth) or key_line
            if day is None:
                problems.add(f"{key}[{j}]", f"{value!r} is not a date YYYY-MM-DD", line)
                continue
            if dates and day <= dates[-1]:
                what = (
                    "is listed twice" if day == dates[-1] else f"is not after {dates[-1]} (dates must ascend)"
                )
                problems.add(f"{key}[{j}]", f"{day} {what}", line)
                continue
            dates.append(day)
        lists[key] = frozenset(dates)
    holidays = lists.get("holidays", frozenset())
    shifted = lists.get("shifted_working_days", frozenset())
    for day in sorted(holidays & shifted):
        key_line = (problems.line_of("shifted_working_days") or 1) - 1
        problems.add(
            "shifted_working_days",
            f"{day} is also a holiday",
            problems.line_of(day.isoformat(), after=key_line),
        )
    if problems.items:
        raise RuleFileError(problems.items)
    return CalendarData(holidays, shifted, weekend)
