"""The price table file: TOML or JSON read into a `PriceSchedule`, every problem with file, line and key.

Layer: storage (pure reading and checking; the accepted table is stored by `storage.prices.PriceStore`).
The format is in `storage.prices` and docs/rules.md ("Price table files").
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from storage.errors import StorageError
from storage.prices import MAX_PRICE_LEVELS, MAX_VERSION, NozzlePrices, PriceSchedule, ProductPrices

__all__ = ["PriceFileError", "read_price_file"]


class PriceFileError(StorageError):
    """A price table file cannot be accepted; `problems` lists every one (`file: line N: key: what`)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid price table:\n  " + "\n  ".join(problems))
        self.problems = problems



# --- the file --------------------------------------------------------------------------------------

_TIME_RE: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")


class _Problems:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.items: list[str] = []

    def line_of(self, key: str, table: str | None = None, index: int = 0) -> int | None:
        """Best-effort line (1-based) of `key` (in the index-th `[[table]]` when given)."""
        start, end = 0, len(self.lines)
        if table is not None:
            headers = [i for i, ln in enumerate(self.lines) if ln.strip().startswith(f"[[{table}]]")]
            if index >= len(headers):
                return None
            start = headers[index]
            end = next((i for i in range(start + 1, end) if self.lines[i].lstrip().startswith("[")), end)
            if not key:
                return start + 1
        pattern = re.compile(rf'(^|[\s{{,])"?{re.escape(key)}"?\s*[=:]')
        return next((i + 1 for i in range(start, end) if pattern.search(self.lines[i])), None)

    def add(self, key: str, what: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        self.items.append(f"{self.path.name}: {where}{key}: {what}")


def _int_list(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PRICE_LEVELS:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 0xFFFF for v in value):
        return None
    return tuple(value)


def _effective(value: Any) -> dt.datetime | str:
    """A naive datetime, or the problem."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        match = _TIME_RE.match(value.strip())
        if match is None:
            return f"{value!r} is not a station-local time YYYY-MM-DDThh:mm"
        try:
            moment = dt.datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}{match.group(3) or ''}")
        except ValueError:
            return f"{value!r} is not a real date and time"
    else:
        return f"must be a local date-time YYYY-MM-DDThh:mm, got {type(value).__name__}"
    if moment.tzinfo is not None:
        return "must be station local time, without a UTC offset"
    if moment.second or moment.microsecond:
        return "must be whole minutes (the dispensers' EFFECTIVE is YYYYMMDDhhmm)"
    return moment


def read_price_file(
    path: str | Path, *, g_codes: Iterable[str] | None = None, nozzles: Iterable[int] | None = None
) -> PriceSchedule:
    """Read and check a price table file (TOML, or JSON when it starts with `{`).

    `g_codes` / `nozzles`: the station's products and nozzles, when known, to refuse unknown ones.
    Raises `PriceFileError` listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceFileError([f"{p.name}: cannot read the file: {exc}"]) from exc
    problems = _Problems(p, text)
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceFileError([f"{p.name}: line {exc.lineno}: not valid JSON: {exc.msg}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError([f"{p.name}: not valid TOML: {exc}"]) from exc
    except RecursionError as exc:
        raise PriceFileError([f"{p.name}: nested too deeply"]) from exc
    if not isinstance(doc, dict):
        raise PriceFileError([f"{p.name}: must be a table (object) with version, effective, products"])
    for key in doc:
        if key not in ("version", "effective", "products", "nozzles"):
            problems.add(key, "unknown key", problems.line_of(key))
    version = doc.get("version")
    if "version" not in doc:
        problems.add("version", "missing")
    elif not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION:
        problems.add(
            "version", f"must be an integer 1..{MAX_VERSION}, got {version!r}", problems.line_of("version")
        )
    elif version & 0xFF == 0:
        problems.add(
            "version",
            f"{version}: dispensers see only the low byte, and 0 is ignored (use {version + 1})",
            problems.line_of("version"),
        )
    effective: dt.datetime | str = "missing"
    if "effective" in doc:
        effective = _effective(doc["effective"])
    if isinstance(effective, str):
        problems.add("effective", effective, problems.line_of("effective"))
    known_codes = None if g_codes is None else set(g_codes)
    known_nozzles = None if nozzles is None else set(nozzles)
    products = _products(problems, doc.get("products", []), known_codes)
    nozzle_prices = _nozzles(problems, doc.get("nozzles", []), known_nozzles)
    if not products and not nozzle_prices and not problems.items:
        problems.add("products", "a price table needs at least one [[products]] or [[nozzles]] entry")
    if problems.items:
        raise PriceFileError(problems.items)
    assert isinstance(version, int) and isinstance(effective, dt.datetime)
    return PriceSchedule(version, effective, products, nozzle_prices, source=str(p))


def _products(problems: _Problems, raw: Any, known: set[str] | None) -> tuple[ProductPrices, ...]:
    if not isinstance(raw, list):
        problems.add("products", "must be an array of tables ([[products]])", problems.line_of("products"))
        return ()
    out: list[ProductPrices] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        key = f"products[{i}]"
        line = problems.line_of("", "products", i)
        if not isinstance(item, dict):
            problems.add(key, "must be a table", line)
            continue
        for name in item:
            if name not in ("g_code", "prices", "density"):
                problems.add(f"{key}.{name}", "unknown key", problems.line_of(name, "products", i) or line)
        g_code = item.get("g_code")
        if not isinstance(g_code, str) or len(g_code) != 4 or not g_code.isdigit():
            problems.add(
                f"{key}.g_code",
                f"must be 4 digits, got {g_code!r}",
                problems.line_of("g_code", "products", i) or line,
            )
            continue
        if g_code in seen:
            problems.add(
                f"{key}.g_code", f"product {g_code} is already priced in products[{seen[g_code]}]", line
            )
            continue
        seen[g_code] = i
        if known is not None and g_code not in known:
            problems.add(f"{key}.g_code", f"product {g_code} is not in the station's [[products]]", line)
        prices = _int_list(item.get("prices"))
        if prices is None:
            problems.add(
                f"{key}.prices",
                f"must be 1 to {MAX_PRICE_LEVELS} prices in fen, each 1..65535, got {item.get('prices')!r}",
                problems.line_of("prices", "products", i) or line,
            )
            continue
        density = item.get("density", 0)
        if not isinstance(density, int) or isinstance(density, bool) or not 0 <= density <= 0xFFFFFFFF:
            problems.add(f"{key}.density", f"must be an integer 0..4294967295, got {density!r}", line)
            continue
        out.append(ProductPrices(g_code, prices, density))
    return tuple(out)


def _nozzles(problems: _Problems, raw: Any, known: set[int] | None) -> tuple[NozzlePrices, ...]:
    if not isinstance(raw, list):
        problems.add("nozzles", "must be an array of tables ([[nozzles]])", problems.line_of("nozzles"))
        return ()
    out: list[NozzlePrices] = []
    seen: dict[int, int] = {}
    for i, item in enumerate(raw):
        key = f"nozzles[{i}]"
        line = problems.line_of("", "nozzles", i)
        if not isinstance(item, dict):
            problems.add(key, "must be a table", line)
            continue
        for name in item:
            if name not in ("nzn", "prices", "density"):
                problems.add(f"{key}.{name}", "unknown key", line)
        nzn = item.get("nzn")
        if not isinstance(nzn, int) or isinstance(nzn, bool) or not 1 <= nzn <= 255:
            problems.add(f"{key}.nzn", f"must be a nozzle number 1..255, got {nzn!r}", line)
            continue
        if nzn in seen:
            problems.add(f"{key}.nzn", f"nozzle {nzn} is already priced in nozzles[{seen[nzn]}]", line)
            continue
        seen[nzn] = i
        if known is not None and nzn not in known:
            problems.add(f"{key}.nzn", f"nozzle {nzn} is not in the station's configuration", line)
        prices = _int_list(item.get("prices"))
        if prices is None:
            problems.add(
                f"{key}.prices", f"must be 1 to {MAX_PRICE_LEVELS} prices in fen, each 1..65535", line
            )
            continue
        density = item.get("density")
        if density is not None and (
            not isinstance(density, int) or isinstance(density, bool) or not 0 <= density <= 0xFFFFFFFF
        ):
            problems.add(f"{key}.density", "must be an integer 0..4294967295", line)
            continue
        out.append(NozzlePrices(nzn, prices, density))
    return tuple(out)


