"""docs/rules.md cannot drift from the code: the reason table, and the `[rules]` keys and their checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.config import ConfigError
from edge.rules import GreyDelayMode, RulesConfig
from edge.rules_config import RulesSettings, parse_rules_settings
from protocol.reasons import REASON_TEXT, RefusalReason

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
ROW = re.compile(r"^\| (\d+) \| `([A-Z_0-9]+)` \| (.*) \|$")


def test_reason_table_matches_protocol_reasons() -> None:
    rows = [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]
    assert [(int(code), name, words) for code, name, words in rows] == [
        (int(r), r.name, REASON_TEXT[r]) for r in RefusalReason
    ]


def test_every_rules_key_is_documented() -> None:
    text = DOC.read_text()
    section = text[text.index("## Configuration: `[rules]`") :]
    for key in (
        "cylinder_alarm_advance_days",
        "grey_delay_mode",
        "grey_delay_working_days",
        "grey_delay_hours",
        "lost_card_grace_working_days",
        "accepted_card_classes",
        "accepted_provinces",
        "require_cng_profile",
        "require_plate_match",
        "price_receipt_timeout_s",
        "card_facts_ttl_s",
        "inbox_dir",
    ):
        assert f"| `{key}` |" in section, key


def test_rules_table_defaults_and_values(tmp_path: Path) -> None:
    assert parse_rules_settings(None) == RulesSettings()
    settings = parse_rules_settings(
        {
            "cylinder_alarm_advance_days": 5,
            "grey_delay_mode": "hours",
            "grey_delay_hours": 24,
            "accepted_card_classes": [1, 2],
            "accepted_provinces": ["11", "32"],
            "require_cng_profile": True,
            "price_receipt_timeout_s": 60,
            "inbox_dir": "spool",
        },
        base=tmp_path,
    )
    assert settings.rules == RulesConfig(
        cylinder_alarm_advance_days=5,
        grey_delay_mode=GreyDelayMode.HOURS,
        grey_delay_hours=24,
        accepted_card_classes=frozenset({1, 2}),
        accepted_provinces=frozenset({0x11, 0x32}),
        require_cng_profile=True,
    )
    assert settings.price_receipt_timeout_s == 60.0 and settings.inbox_dir == tmp_path / "spool"


def test_every_problem_is_reported_with_file_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules_settings(
            {
                "grey_delay_mode": "days",
                "grey_delay_working_days": -1,
                "accepted_provinces": [11],
                "require_plate_match": "yes",
                "price_receipt_timeout_s": 0,
                "colour": "blue",
            },
            "station.toml",
        )
    keys = sorted(p.split(": ")[1] for p in info.value.problems)
    assert keys == [
        "rules.accepted_provinces",
        "rules.colour",
        "rules.grey_delay_mode",
        "rules.grey_delay_working_days",
        "rules.price_receipt_timeout_s",
        "rules.require_plate_match",
    ]
    assert all(p.startswith("station.toml: rules.") for p in info.value.problems)
