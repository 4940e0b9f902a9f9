"""reports.yaml is validated on load, and the index links every month's reports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.reports.config import CONFIG_FILE, load_config
from pipeline.reports.index import Manifest, write_index


def _variant(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "reports.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_typo_names_the_key(tmp_path: Path) -> None:
    path = _variant(tmp_path, lambda d: d["disclosure"].update(min_cout=5))
    with pytest.raises(ConfigError, match=r"disclosure\.min_cout: unknown key"):
        load_config(path)


def test_a_threshold_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, lambda d: d["disclosure"].update(min_count="5"))
    with pytest.raises(ConfigError, match=r"disclosure\.min_count"):
        load_config(path)


def test_index_links_every_month_newest_first(tmp_path: Path) -> None:
    for month in ("2024-04", "2024-05"):
        folder = tmp_path / month
        folder.mkdir()
        Manifest(
            month=month,
            generated_at="1. juni 2024",
            areas=[{"key": "1", "title": "Område 1", "file": "opfoelgning-omraade-1.html"}],
            providers=[{"key": "P01", "title": "Alfa", "file": "leverandoer-P01.html"}],
            scorecard="scorecard.xlsx",
        ).write(folder)
    (tmp_path / "2024-03").mkdir()
    (tmp_path / "2024-03" / "manifest.json").write_text("{not json", encoding="utf-8")
    text = write_index(tmp_path).read_text(encoding="utf-8")
    assert text.index("Maj 2024") < text.index("April 2024")
    for month in ("2024-04", "2024-05"):
        for name in ("opfoelgning-omraade-1.html", "leverandoer-P01.html", "scorecard.xlsx"):
            assert f'href="{month}/{name}"' in text
    assert "2024-03/" not in text  # a broken manifest leaves its month out, not the index
