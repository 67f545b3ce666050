"""Reports in the station's languages: every word a manager reads in Chinese (zh_CN) or English — titles,
sections, column headers, units, kind / payment / card-kind names — in the text, CSV, XLSX and the CLI;
codes (JSON, the CSV `section` and `key` columns) and figures the same in every language; Chinese text
aligned by terminal cells; and a report word without a Chinese translation fails the build."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from storage_testkit import make_record

from protocol.i18n import LOCALE_DIR, cells, translator
from storage.db import Database, open_readonly
from storage.journal import Journal
from storage.reports import labels as L
from storage.reports import render, xlsx
from storage.reports.core import DIMENSIONS, Names, Report
from storage.reports.periods import DayBoundary, day_period
from storage.reports.query import ReportReader

ZH, EN = translator("zh_CN"), translator("en")
DAY = dt.date(2026, 12, 2)
NAMES = Names(products={"0102": "92号汽油", "0201": "天然气"}, units={"0102": "L", "0201": "m3"})
USER, STAFF = "10000101000000012345", "10000401000000000007"
# (minute, g_code, t_type, pay bits, asn, amount fen, volume 0.01, emp)
RECORDS = (
    (1, "0102", 0x10, 0, USER, 25_000, 3_333, 3),  # sale, cash payment
    (2, "0102", 0x10, 3, USER, 12_345, 1_646, 3),  # sale, bank card
    (3, "0201", 0x11, 0, STAFF, 4_200, 1_000, 255),  # grey: owed
    (4, "0201", 0x13, 0, STAFF, 4_200, 0, 255),  # grey unlock
    (5, "0102", 0x17, 0, "0" * 20, 10_001, 1_333, 4),  # cash
)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import asyncio

    path = tmp_path_factory.mktemp("lang") / "station.db"

    async def build() -> None:
        db = await Database.open(path)
        journal = Journal(db)
        for ttc, (minute, g_code, t_type, pay, asn, amn, vol, emp) in enumerate(RECORDS, start=1):
            rec, raw = make_record(
                ttc, g_code=g_code, t_type=t_type, unit=pay << 4, asn=asn, amn=amn, vol=vol, emp=emp, ctc=ttc,
                time=dt.datetime.combine(DAY, dt.time(14, minute)),
            )  # fmt: skip
            await journal.store_record(
                "bus1", 1, rec, raw, received_at=dt.datetime(2026, 12, 2, 7, tzinfo=dt.UTC)
            )
        await db.close()

    asyncio.run(build())
    return path


@pytest.fixture(scope="module")
def report(database: Path) -> Report:
    reader = ReportReader(open_readonly(database), station="S001", boundary=DayBoundary(), names=NAMES)
    return reader.report(
        day_period(DAY, DayBoundary()), DIMENSIONS, now=dt.datetime(2026, 12, 3, 1, tzinfo=dt.UTC)
    )


def test_report_text_in_chinese_aligns_by_cells_and_keeps_the_figures(report: Report) -> None:
    zh, en = render.report_text(report, ZH), render.report_text(report, EN)
    for word in ("日报表", "按油品", "按支付方式", "按消费方式", "按卡类型", "按员工", "合计", "现金", "银行卡",
                 "灰交易未付", "解灰", "用户卡", "员工卡", "无卡", "员工 3", "92号汽油 (升)", "未日结", "¥"):  # fmt: skip
        assert word in zh, word
    for word in ("DAY REPORT", "By payment mode", "TOTAL", "bank card", "grey unpaid", "user card", "¥"):
        assert word in en, word
    assert "DAY REPORT" not in zh and "By product" not in zh and "TOTAL" not in zh
    # dates and times as people read them: 2026-12-02 00:00, the ¥ amount of the day
    assert "2026-12-02 00:00" in zh and "¥557.46" in zh
    for text in (zh, en):
        lines = text.splitlines()
        assert all(cells(line) <= 80 for line in lines), [line for line in lines if cells(line) > 80]
        # every figure line ends at the same terminal cell: the amount column, in either language
        figure_lines = [line for line in lines if "¥" in line and line.rstrip()[-1].isdigit()]
        assert len(figure_lines) > 10
        assert len({cells(line) for line in figure_lines}) == 1

    # the same figures in both languages: the number cells of the figure lines are equal
    def numbers(text: str) -> list[str]:
        return [w for line in text.splitlines() for w in line.split() if w.startswith("¥") or w.isdigit()]

    assert numbers(zh) == numbers(en)


def test_report_csv_headers_and_words_in_the_language_codes_the_same(report: Report) -> None:
    zh = list(csv.reader(io.StringIO(render.report_csv(report, ZH))))
    en = list(csv.reader(io.StringIO(render.report_csv(report, EN))))
    assert zh[0] == ["分类 [文本]", "代码 [文本]", "项目 [文本]", "数量单位 [文本]",
                     "记录 [笔, 整数]", "数量 [0.01 单位, 整数]", "金额 [分, 整数]"]  # fmt: skip
    assert en[0][4:] == ["Records [records, int]", "Volume [0.01 unit, int]", "Amount [fen, int]"]
    # section and key columns and every figure: identical (codes); the words differ
    assert [(r[0], r[1], r[4:]) for r in zh[1:]] == [(r[0], r[1], r[4:]) for r in en[1:]]
    payment_zh = {r[1]: r[2] for r in zh[1:] if r[0] == "payment" and r[1]}
    assert payment_zh == {"cash": "现金", "bank_card": "银行卡", "grey_unpaid": "灰交易未付"}
    modes_zh = {r[1]: r[2] for r in zh[1:] if r[0] == "mode" and r[1]}
    assert modes_zh == {"00": "正常交易", "01": "灰交易", "03": "解灰", "07": "现金"}
    units_zh = {r[1]: r[3] for r in zh[1:] if r[0] == "product" and r[1]}
    assert units_zh == {"0102": "升", "0201": "立方米"}
    # the figures add up in the export: each section's rows sum to its total row, which is the day's
    for section in {r[0] for r in zh[1:]} - {"total"}:
        rows = [r for r in zh[1:] if r[0] == section]
        assert [sum(int(r[i]) for r in rows[:-1]) for i in (4, 5, 6)] == [int(v) for v in rows[-1][4:]]
        assert rows[-1][2] == "合计" and rows[-1][4:] == zh[1][4:]


def test_report_xlsx_read_back_in_both_languages(report: Report, tmp_path: Path) -> None:
    sheets = {}
    for tr in (ZH, EN):
        path = tmp_path / f"day-{tr.language}.xlsx"
        xlsx.write_report(path, report, tr)
        book = openpyxl.load_workbook(path, read_only=True)
        assert book.sheetnames == [tr("report")]
        sheets[tr.language] = list(book.worksheets[0].iter_rows(values_only=True))
    zh, en = sheets["zh_CN"], sheets["en"]
    assert zh[0][4:] == ("记录 [笔, 整数]", "数量 [0.01 单位, 整数]", "金额 [分, 整数]")
    assert en[0][4:] == ("Records [records, int]", "Volume [0.01 unit, int]", "Amount [fen, int]")
    assert [(r[0], r[1], r[4:]) for r in zh[1:]] == [(r[0], r[1], r[4:]) for r in en[1:]]
    assert zh[1][2] == "合计" and zh[1][4:] == (
        5,
        3333 + 1646 + 1000 + 1333,
        25_000 + 12_345 + 4_200 * 2 + 10_001,
    )


def test_listing_text_and_xlsx_speak_the_language(database: Path, tmp_path: Path) -> None:
    reader = ReportReader(open_readonly(database), names=NAMES)
    period = day_period(DAY, DayBoundary())
    items = list(reader.records(period))
    text = render.listing_text(L.title("records", ZH), L.RECORD_COLUMNS, items, None, ZH)
    lines = text.splitlines()
    assert lines[0] == "交易记录" and lines[1].split()[:3] == ["时间", "线路", "加注机"]
    assert "正常交易" in text and "解灰" in text and "银行卡" in text and "¥250.00" in text
    assert "2026-12-02 14:01" in text
    # columns aligned by cells: each column starts at the same cell on every line
    assert len({cells(line.split("正常交易")[0]) for line in lines if "正常交易" in line}) == 1
    path = tmp_path / "records.xlsx"
    xlsx.write_rows(path, L.RECORD_COLUMNS, render.dict_rows(L.RECORD_COLUMNS, items, ZH), ZH)
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["明细"]
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("行号 [整数]", "时间 [站点时间, 日期时间]", "营业日 [日期]")
    assert [r[7] for r in rows[1:]] == ["正常交易", "正常交易", "灰交易", "解灰", "现金"]
    assert sum(r[14] for r in rows[1:]) == sum(x[5] for x in RECORDS)


# --- the CLI --------------------------------------------------------------------------------------------


def station(*args: str, language: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STATION_LANGUAGE"}
    if language is not None:
        env["STATION_LANGUAGE"] = language
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_cli_report_language_flag_environment_and_station_default(database: Path, tmp_path: Path) -> None:
    src = ("--db", str(database))
    zh = station("report", "day", DAY.isoformat(), *src, "--language", "zh_CN")
    en = station("report", "day", DAY.isoformat(), *src, "--language", "en")
    assert zh.returncode == 0 and en.returncode == 0, zh.stderr + en.stderr
    assert zh.stdout.startswith("日报表  2026-12-02") and en.stdout.startswith("DAY REPORT  2026-12-02")
    # no flag: STATION_LANGUAGE, else the station default (Chinese; --db has no configuration)
    assert station("report", "day", DAY.isoformat(), *src).stdout == zh.stdout
    assert station("report", "day", DAY.isoformat(), *src, language="en").stdout == en.stdout
    assert (
        station("report", "day", DAY.isoformat(), *src, "--language", "en", language="zh_CN").stdout
        == en.stdout
    )
    # JSON is the same in every language
    js = [station("report", "day", DAY.isoformat(), *src, "--format", "json", "--language", lang).stdout
          for lang in ("zh_CN", "en")]  # fmt: skip
    assert json.loads(js[0])["sections"] == json.loads(js[1])["sections"]
    csv_zh = station("report", "day", DAY.isoformat(), *src, "--format", "csv", "--language", "zh_CN")
    assert csv_zh.stdout.splitlines()[0].startswith("分类 [文本],代码 [文本],项目 [文本]")
    target = tmp_path / "day.xlsx"
    out = station(
        "report", "day", DAY.isoformat(), *src, "--format", "xlsx", "-o", str(target), "--language", "zh_CN"
    )
    assert out.returncode == 0 and "已写入" in out.stdout, out.stderr
    assert openpyxl.load_workbook(target, read_only=True).sheetnames == ["报表"]
    bad = station("report", "day", DAY.isoformat(), *src, "--language", "fr")
    assert bad.returncode == 2 and "unknown language 'fr'" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_listings_in_both_languages(database: Path) -> None:
    src = ("--db", str(database), "--day", DAY.isoformat())
    zh = station("query", "records", *src, "--format", "csv", "--language", "zh_CN")
    en = station("query", "records", *src, "--format", "csv", "--language", "en")
    zh_rows, en_rows = (list(csv.reader(io.StringIO(o.stdout))) for o in (zh, en))
    assert zh_rows[0][7:9] == ["类型 [文本]", "支付方式 [文本]"] and en_rows[0][7:9] == [
        "Kind [text]",
        "Payment [text]",
    ]
    assert [r[7] for r in zh_rows[1:-1]] == ["正常交易", "正常交易", "灰交易", "解灰", "现金"]
    assert [r[14] for r in zh_rows[1:]] == [r[14] for r in en_rows[1:]]
    assert zh_rows[-1][:2] == ["合计", "5"] and en_rows[-1][:2] == ["TOTAL", "5"]
    assert int(zh_rows[-1][14]) == sum(int(r[14]) for r in zh_rows[1:-1])
    lines = station("query", "records", *src, "--format", "json", "--language", "zh_CN").stdout.splitlines()
    assert [json.loads(line)["kind"] for line in lines[:-1]] == [
        "sale",
        "sale",
        "grey",
        "grey_unlock",
        "cash",
    ]
    greys = station("query", "greys", "--db", str(database), "--language", "zh_CN")
    assert greys.stdout.startswith("未解灰记录\n") or "未解灰记录" in greys.stdout


# --- the catalogs -------------------------------------------------------------------------------------


IDENTICAL = {"POS_TTC"}
"""Words that read the same in Chinese."""


def missing_report_words(words: list[str], tr_language: str = "zh_CN") -> list[str]:
    """Report words the compiled catalog of `tr_language` does not translate (or leaves in English)."""
    tr = translator(tr_language)
    return [w for w in words if w not in IDENTICAL and tr(w) == w]


def test_every_report_word_is_in_the_chinese_catalog() -> None:
    words = [*L.report_words(), xlsx.SHEET_REPORT, xlsx.SHEET_ROWS]
    assert len(words) > 90
    assert missing_report_words(words) == []
    assert (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "station.po").read_text(encoding="utf-8").count(
        "日报表"
    ) >= 1


def test_a_report_word_missing_from_the_catalog_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(L.TITLES, "shift_summary", "SHIFT SUMMARY BY NOZZLE")
    assert missing_report_words([*L.report_words()]) == ["SHIFT SUMMARY BY NOZZLE"]
