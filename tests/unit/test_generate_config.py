"""world.yaml loads and a broken world is refused with a message naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.generate.config import WORLD_FILE, load_world


def test_the_world_file_loads_with_the_scales_of_the_cli() -> None:
    world = load_world()
    assert set(world.scales) == {"small", "city", "national"}
    assert world.scale("city").referrals == 50_000 and world.scale("national").referrals == 1_000_000
    assert world.scale("national").big_extract_format == "parquet"


def test_an_unknown_scale_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        load_world().scale("huge")


def _broken(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(WORLD_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["outcomes"]["correlation"][0].__setitem__(2, 1.5), "correlation"),
        (lambda d: d["tender_areas"][1]["offers"].__setitem__("yoga", 0.1), "yoga"),
        (lambda d: d["dirt"]["unknown_codes"].append("job"), "known codes"),
        (lambda d: d["dirt"]["bad_dates"].append({"day_shift": 3}), "bad date"),
        (lambda d: d["roles"]["drops"].pop("effects_after_drop"), "drop_at"),
        (lambda d: d["providers"]["P01"].__setitem__("role", "excellent"), "role"),
        (lambda d: d["outcomes"]["sustained"]["horizon_shift"].__setitem__(12, 0.5), "horizon_shift"),
    ],
)
def test_a_broken_world_is_refused(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_world(_broken(tmp_path, change))
