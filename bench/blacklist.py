"""Benchmark: a blacklist of a million cards — import and swap time, lookup latency, memory.

Run: `uv run python -m bench.blacklist --entries 1000000 --json`. Target (docs/design.md): atomic swap
in seconds, lookup p99 < 50 µs, daemon RSS < 150 MB.

- generates a sorted text list of `entries` random user-card numbers (streamed, nothing kept but a
  sample of hits), imports it into a fresh store (`import_s`: parse, validate, fsync'd write, swap),
  then replaces it by a second full list (`swap_s`) and measures a restart (`open_s`);
- times `is_blacklisted` one call at a time with `perf_counter_ns` over ≥ 100 000 queries, half hits,
  half misses one above a listed number (the search goes all the way down);
- reads VmRSS from /proc/self/status after loading (`rss_mb`, this process) and in a fresh process that
  only opens the store (`rss_open_mb`, what a restarted daemon pays for the lists).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from storage.lists import ListStore

QUERIES = 100_000
HIT_SAMPLE = QUERIES // 2
TARGET_P99_US = 50.0
CARD_PREFIX = "100001"  # issuer 1000, card type 01 (user card)
CHUNK_LINES = 1 << 16


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _write_list(path: Path, entries: int, version: int, rng: random.Random) -> list[int]:
    """Write a sorted text list; return a sample of the listed numbers (gaps ≥ 2: n + 1 is never listed)."""
    mean_gap = max(2, 10**14 // (entries + 1) // 2)
    every = max(1, entries // HIT_SAMPLE)
    sample: list[int] = []
    value = rng.randrange(mean_gap)
    with path.open("w", encoding="ascii") as f:
        f.write(f"kind = base\nversion = {version}\nvalid_from = 2024-01-01\nvalid_to = 2099-12-31\n")
        f.write(f"area = 0x0011\ncount = {entries}\n\n")
        done = 0
        while done < entries:
            n = min(CHUNK_LINES, entries - done)
            lines = []
            for i in range(n):
                value += 2 + rng.randrange(2 * mean_gap - 2)
                lines.append(f"{CARD_PREFIX}{value:014d}\n")
                if (done + i) % every == 0:
                    sample.append(value)
            f.write("".join(lines))
            done += n
    return sample


def _fresh_process_rss_mb(directory: Path) -> float:
    code = (
        "import sys; from pathlib import Path; from storage.lists import ListStore\n"
        "store = ListStore.open(sys.argv[1])\n"
        "rss = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmRSS:')]\n"
        "print(int(rss[0].split()[1]) / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(directory)], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip())


def _percentile(sorted_values: list[int], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))] / 1000


def run(entries: int = 1_000_000, json_out: bool = False, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-blacklist-") as tmp:
        root = Path(tmp)
        first, second = root / "base-1.txt", root / "base-2.txt"
        _write_list(first, entries, 1, rng)
        listed = _write_list(second, entries, 2, rng)

        store = ListStore.open(root / "lists")
        started = time.perf_counter()
        store.import_file(first)
        import_s = time.perf_counter() - started
        started = time.perf_counter()
        store.import_file(second)
        swap_s = time.perf_counter() - started
        rss_mb = _rss_mb()
        store.close()  # the snapshot stays readable; the directory is free for the restart below
        started = time.perf_counter()
        ListStore.open(root / "lists").close()
        open_s = time.perf_counter() - started
        rss_open_mb = _fresh_process_rss_mb(root / "lists")

        hits = [f"{CARD_PREFIX}{v:014d}" for v in rng.choices(listed, k=QUERIES // 2)]
        misses = [f"{CARD_PREFIX}{v + 1:014d}" for v in rng.choices(listed, k=QUERIES - len(hits))]
        queries = [(q, True) for q in hits] + [(q, False) for q in misses]
        rng.shuffle(queries)

        snapshot = store.current
        clock = time.perf_counter_ns
        timings = []
        wrong = 0
        for card, expected in queries:
            t0 = clock()
            answer = snapshot.is_blacklisted(card)
            timings.append(clock() - t0)
            wrong += answer is not expected
        if wrong:
            raise AssertionError(f"{wrong} wrong lookup answers")
        timings.sort()

    result: dict[str, Any] = {
        "name": "blacklist",
        "value": round(_percentile(timings, 0.99), 2),
        "unit": "us",
        "target": TARGET_P99_US,
        "import_s": round(import_s, 3),
        "swap_s": round(swap_s, 3),
        "open_s": round(open_s, 3),
        "lookup_p50_us": round(_percentile(timings, 0.50), 2),
        "lookup_p99_us": round(_percentile(timings, 0.99), 2),
        "lookup_max_us": round(timings[-1] / 1000, 2),
        "queries": len(timings),
        "rss_mb": round(rss_mb, 1),
        "rss_open_mb": round(rss_open_mb, 1),
        "entries": entries,
    }
    print(
        f"blacklist: {entries} entries; text import {import_s:.2f} s, replace {swap_s:.2f} s, reopen {open_s:.2f} s;"
        f" lookup p50 {result['lookup_p50_us']} µs p99 {result['lookup_p99_us']} µs (target < {TARGET_P99_US:g})"
        f" over {len(timings)} queries; RSS {rss_mb:.0f} MB here, {rss_open_mb:.0f} MB in a fresh process"
        " that opened the store"
    )
    if json_out:
        print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.blacklist", description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print a final JSON line")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    run(args.entries, json_out=args.json, seed=args.seed)


if __name__ == "__main__":
    main()
