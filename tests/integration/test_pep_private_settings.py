"""The PEP and private-storage limits, set in the configuration file: they reach the
running modules (they were read from settings the file could not hold), and a value
that is no limit is refused with its name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ironwall.server.app import Server
from ironwall.server.config import ConfigError, load_config
from ironwall.server.modules.pep.model import PepLimits
from ironwall.server.modules.private import PrivateLimits
from support.server import make_config

SETTINGS = {
    "pep_max_item_bytes": 1000,
    "pep_max_items_per_node": 7,
    "pep_max_items_per_account": 70,
    "pep_max_nodes_per_account": 9,
    "pep_max_subscriptions_per_node": 11,
    "private_max_element_bytes": 2000,
    "private_max_elements": 13,
}


async def test_every_pep_and_private_limit_of_the_file_reaches_its_module(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ironwall.toml"
    path.write_text(
        "[limits]\n" + "".join(f"{key} = {value}\n" for key, value in SETTINGS.items()),
        encoding="utf-8",
    )
    limits = load_config(path).limits
    server = Server(make_config(tmp_path / "data", limits=dataclasses.asdict(limits)))
    await server.start()
    try:
        pep: PepLimits = server.module("pep").limits  # type: ignore[attr-defined]
        private: PrivateLimits = server.module("private").limits  # type: ignore[attr-defined]
    finally:
        await server.stop()
    seen = {f"pep_{k}": v for k, v in dataclasses.asdict(pep).items()}
    seen |= {f"private_{k}": v for k, v in dataclasses.asdict(private).items()}
    assert seen == SETTINGS


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_limit_below_one_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "ironwall.toml"
    path.write_text(f"[limits]\npep_max_items_per_node = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="limit 'pep_max_items_per_node' must be at least 1"):
        load_config(path)


def test_a_misspelt_limit_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "ironwall.toml"
    path.write_text("[limits]\npep_max_item = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown limit 'pep_max_item'"):
        load_config(path)


@pytest.mark.parametrize("value", ['"many"', "true", "2.5"])
def test_a_limit_that_is_not_a_whole_number_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "ironwall.toml"
    path.write_text(f"[limits]\nprivate_max_elements = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'limits\.private_max_elements' has the wrong type"):
        load_config(path)
