"""quality.yaml is validated on load: a typo, a bound out of order or a name the contract does
not know stops with one line naming the key, instead of falling back to a default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.quality.config import CONFIG_FILE, Severity, load_config


def edited(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    data = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_shipped_configuration_loads() -> None:
    config = load_config()
    assert config.landing.keys_unique is Severity.CRITICAL
    assert config.landing.freshness.for_extract("providers") == 1100
    assert config.landing.freshness.for_extract("referrals") == config.landing.freshness.max_days


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["landing"]["volume"]["newest"].update(critical_below=0.9), "landing.volume.newest"),
        (lambda d: d["landing"].update(keys_unique="fatal"), "landing.keys_unique"),
        (lambda d: d["landing"]["orphans"].update(warn_above=0.1), "landing.orphans.warn_above"),
        (lambda d: d["landing"]["freshness"]["max_days_per_extract"].update(henvisninger=10), "henvisninger"),
        (lambda d: d["landing"]["dates"]["columns"].update({"referrals.slutdato": {}}), "referrals.slutdato"),
        (lambda d: d["landing"]["end_reason_missing"].update(reason_column="why"), "'why'"),
        (lambda d: d["marts"]["fct_referral_outcomes"]["contract_columns"].update(x="y.z"), "'y.z'"),
        (lambda d: d["landing"]["volume"].update(min_previous=9), "min_previous"),
    ],
)
def test_a_broken_configuration_names_the_key(
    tmp_path: Path, edit: Callable[[dict], None], named: str
) -> None:
    path = edited(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert named in str(caught.value)


def test_the_most_specific_date_bound_wins() -> None:
    dates = load_config().landing.dates
    assert dates.for_column("referrals", "planned_end_date")[1] == 1100
    assert dates.for_column("referrals", "start_date") == (dates.earliest, dates.max_days_after_delivery)
