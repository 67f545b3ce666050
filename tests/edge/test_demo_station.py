"""The pty links a demo-shaped station's simulator creates, read from its configuration."""

from __future__ import annotations

from pathlib import Path

from edge.demo_station import sim_links, write_demo_config


def test_the_demo_waits_for_its_dispenser_lines(tmp_path: Path) -> None:
    config = write_demo_config(tmp_path)
    assert sim_links(config) == [tmp_path.resolve() / "tty-bus1", tmp_path.resolve() / "tty-p2p1"]


def test_tank_consoles_sharing_a_line_add_it_once(tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, tanks=True)
    assert sim_links(config)[-1] == tmp_path.resolve() / "tty-tanks"
    assert len(sim_links(config)) == 3


def test_network_addresses_are_not_links(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text(
        '[[lines]]\nname = "bus1"\nurl = "socket://127.0.0.1:4001"\n'
        f'[[lines]]\nname = "p2p1"\nurl = "{tmp_path}/tty-p2p1"\n'
        '[tanks]\n[[tanks.consoles]]\nname = "tls1"\nurl = "tcp://127.0.0.1:502"\n',
        encoding="utf-8",
    )
    assert sim_links(config) == [tmp_path / "tty-p2p1"]


def test_lpg_scales_sharing_a_line_add_it_once(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text(
        f'[[lines]]\nname = "bus1"\nurl = "{tmp_path}/tty-bus1"\n'
        f'[lpg]\n[[lpg.scales]]\nname = "S1"\nurl = "{tmp_path}/tty-scales"\n'
        f'[[lpg.scales]]\nname = "S2"\nurl = "{tmp_path}/tty-scales"\n'
        '[[lpg.scales]]\nname = "S3"\nurl = "tcp://127.0.0.1:5020"\n',
        encoding="utf-8",
    )
    assert sim_links(config) == [tmp_path / "tty-bus1", tmp_path / "tty-scales"]
