"""The [uplink] table: typed settings, every problem reported at once with its key; back-off."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uplink_helpers import Pki, keys_setting

from uplink.backoff import Backoff
from uplink.config import parse_uplink
from uplink.errors import UplinkConfigError
from uplink.params import link_params, ssl_context


def test_a_complete_table(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    key = Ed25519PrivateKey.generate()
    settings = parse_uplink(
        {
            "url": "mqtts://broker.example.com",
            "password_file": "pw",
            "ca_file": str(pki.ca),
            "centre_keys": keys_setting(key),
            "window": 32,
            "live_interval_s": 2,
        },
        station_id="S1",
        base=tmp_path,
    )
    assert settings is not None
    assert (settings.host, settings.port, settings.tls) == ("broker.example.com", 8883, True)
    assert (settings.username, settings.client_id, settings.password) == ("S1", "S1", "s3cret")
    assert settings.window == 32 and settings.live_interval_s == 2.0
    assert len(settings.centre_keys) == 1
    ctx = ssl_context(settings)
    assert ctx is not None and ctx.check_hostname
    params = link_params(settings, None, ctx)
    assert params.username == "S1" and not params.clean_start and params.session_expiry_s > 0


def test_no_table_means_no_uplink() -> None:
    assert parse_uplink(None, station_id="S1") is None


def test_every_problem_is_listed_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(UplinkConfigError) as info:
        parse_uplink(
            {
                "url": "mqtt://broker:1883",
                "username": "S2",
                "window": 0,
                "keepalive_s": "30",
                "centre_keys": ["not-base64!", 7],
                "colour": "blue",
                "cert_file": "missing.pem",
            },
            station_id="S1",
            source="station.toml",
            base=tmp_path,
        )
    text = "\n".join(info.value.problems)
    for fragment in (
        "station.toml: uplink.url: plain mqtt://",
        "uplink.username: must equal the station id 'S1'",
        "uplink.window: must be at least 1",
        "uplink.keepalive_s: must be int",
        "uplink.centre_keys[0]: not an Ed25519 public key",
        "uplink.centre_keys[1]: must be a base64 string",
        "uplink.colour: unknown key",
        "uplink.cert_file: file",
    ):
        assert fragment in text, fragment
    assert len(info.value.problems) >= 8


def test_tls_needs_a_ca_and_the_certificate_names_the_station(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(UplinkConfigError) as info:
        parse_uplink(
            {"url": "mqtts://b", "cert_file": str(pki.other_cert), "key_file": str(pki.other_key)},
            station_id="S1",
            base=tmp_path,
        )
    text = "\n".join(info.value.problems)
    assert "uplink.ca_file: missing" in text
    assert "subject CN ['S2'] must be the station id 'S1'" in text
    settings = parse_uplink(
        {
            "url": "mqtts://b",
            "ca_file": str(pki.ca),
            "cert_file": str(pki.client_cert),
            "key_file": str(pki.client_key),
        },
        station_id="S1",
    )
    assert settings is not None and settings.password is None
    assert link_params(settings, None, ssl_context(settings)).username is None  # identity from the cert


def test_unusable_tls_files_are_reported(tmp_path: Path, pki: Pki) -> None:
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(UplinkConfigError, match=r"uplink\.ca_file: not a usable PEM"):
        parse_uplink(
            {"url": "mqtts://b", "ca_file": str(bad_ca), "password_file": str(pki.ca)}, station_id="S1"
        )
    with pytest.raises(UplinkConfigError, match=r"uplink\.key_file: certificate and key do not load"):
        parse_uplink(
            {
                "url": "mqtts://b",
                "ca_file": str(pki.ca),
                "cert_file": str(pki.client_cert),
                "key_file": str(pki.other_key),
            },
            station_id="S1",
        )


def test_environment_overrides(tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATION_UPLINK_URL", "mqtts://other:9999")
    monkeypatch.setenv("STATION_UPLINK_PASSWORD", "from-env")
    settings = parse_uplink({"url": "mqtts://b", "ca_file": str(pki.ca)}, station_id="S1")
    assert settings is not None
    assert (settings.host, settings.port, settings.password) == ("other", 9999, "from-env")


def test_backoff_grows_with_jitter_and_resets() -> None:
    values = iter([0.0, 1.0, 0.5, 1.0, 1.0, 0.0])
    b = Backoff(1.0, 4.0, rand=lambda: next(values))
    assert [b.next() for _ in range(5)] == [0.5, 2.0, 3.0, 4.0, 4.0]
    b.reset()
    assert b.next() == 0.5
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
