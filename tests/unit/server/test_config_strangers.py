"""The settings for registration modes, strangers and quotas, as a TOML file gives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironwall.server.config import Config, ConfigError, load_config


def config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "ironwall.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


@pytest.mark.parametrize(
    ("setting", "modes"),
    [
        ("registration = true", ("open", "open")),
        ("registration = false", ("closed", "closed")),
        ('registration = "invite"', ("invite", "invite")),
        ("", ("open", "closed")),
    ],
)
def test_registration_modes(tmp_path: Path, setting: str, modes: tuple[str, str]) -> None:
    loaded = config(tmp_path, setting)
    assert (loaded.registration_mode("localhost"), loaded.registration_mode("example.org")) == modes
    assert loaded.registration_open("example.org") == (modes[1] != "closed")


@pytest.mark.parametrize("value", ['"open"', '"yes"', "1"])
def test_registration_must_be_a_known_mode(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match='must be true, false or "invite"'):
        config(tmp_path, f"registration = {value}")


def test_strangers_policy(tmp_path: Path) -> None:
    assert Config().strangers_policy == "limit"
    assert config(tmp_path, 'strangers_policy = "refuse"').strangers_policy == "refuse"
    with pytest.raises(ConfigError, match='one of "allow", "limit", "refuse"'):
        config(tmp_path, 'strangers_policy = "never"')


def test_quota_limits_and_shares(tmp_path: Path) -> None:
    loaded = config(
        tmp_path,
        "[limits]\nmax_offline_bytes = 1000\noffline_share_strangers = 0.25\n"
        "max_stranger_messages_per_sender = 3\nstranger_message_window = 1.5\n",
    )
    assert loaded.limits.max_offline_bytes == 1000
    assert loaded.limits.offline_share_strangers == 0.25
    assert loaded.limits.max_stranger_messages_per_sender == 3
    assert loaded.limits.stranger_message_window == 1.5
    assert (
        config(tmp_path, "[limits]\narchive_share_strangers = 1").limits.archive_share_strangers
        == 1
    )
    with pytest.raises(ConfigError, match="offline_share_per_sender' is a part of a quota"):
        config(tmp_path, "[limits]\noffline_share_per_sender = 1.5")
    with pytest.raises(ConfigError, match="wrong type"):
        config(tmp_path, "[limits]\nmax_archive_bytes = 1.5")
