"""The site mapping file (pipeline/ingest/mapping.py): validated against the contract with one
line per mistake, naming the extract, key and value; file-name patterns; the shipped example."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
import yaml

from pipeline.contract import load_contract
from pipeline.errors import ConfigError
from pipeline.ingest.deliveries import Misnamed
from pipeline.ingest.mapping import EXAMPLE_FILE, find_mapping, load_mapping

CLEAR_CPR = "0101505001"  # fictitious


def write(tmp_path: Path, text: str, name: str = "provmon.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def mistakes(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_mapping(write(tmp_path, text))
    return str(caught.value).splitlines()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "extracts:\n  referrals:\n    columns:\n      strat_date: Startdato\n",
            "extracts.referrals.columns.strat_date: 'strat_date' is not a column of referrals",
        ),
        (
            "extracts:\n  referals:\n    columns:\n      start_date: Startdato\n",
            "extracts.referals: 'referals' is not an extract",
        ),
        (
            "extracts:\n  referrals:\n    columns:\n      start_date: Dato\n      end_date: ' dato '\n",
            "extracts.referrals.columns.end_date: source column ' dato ' is given already for start_date",
        ),
        (
            "extracts:\n  benefit_weeks:\n    codes:\n      benefit:\n        Sygedagpenge: sick\n",
            "extracts.benefit_weeks.codes.benefit.Sygedagpenge: 'sick' is not a code of benefit",
        ),
        (
            "extracts:\n  benefit_weeks:\n    codes:\n      benefit:\n"
            "        SU: student_grant\n        ' su': cash_assistance\n",
            "extracts.benefit_weeks.codes.benefit. su: the source value is given twice (also as 'SU')",
        ),
        (
            "extracts:\n  referrals:\n    codes:\n      start_date:\n        I dag: today\n",
            "extracts.referrals.codes.start_date: start_date is a date column; codes are mapped only for",
        ),
        (
            "extracts:\n  referrals:\n    formats:\n      hours_min: '%d/%m/%Y'\n",
            "extracts.referrals.formats.hours_min: '%d/%m/%Y' is a date format but hours_min is a decimal",
        ),
        (
            "extracts:\n  referrals:\n    formats:\n      start_date: '%d/%m'\n",
            "extracts.referrals.formats.start_date: '%d/%m' does not write and read back a date",
        ),
        (
            "extracts:\n  paid_hours:\n    files: ['timer_{YYYY}{MM}.csv']\n",
            "extracts.paid_hours.files: 'timer_{YYYY}{MM}.csv' lacks {DD}",
        ),
        (
            "extracts:\n  referrals:\n    colums:\n      start_date: Startdato\n",
            "extracts.referrals.colums: unknown key",
        ),
        (
            "extracts:\n  referrals:\n    columns:\n      start_date: Startdato\n      start_date: Dato\n",
            "line 5: the key 'start_date' is given twice",
        ),
    ],
)
def test_a_mistake_is_refused_with_one_line_naming_extract_key_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    lines = mistakes(tmp_path, text)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"site mapping {tmp_path / 'provmon.yaml'}: ")
    assert expected in lines[0]


def test_every_mistake_gets_its_own_line(tmp_path: Path) -> None:
    lines = mistakes(
        tmp_path,
        "extracts:\n  referrals:\n    columns:\n      strat_date: Startdato\n"
        "    codes:\n      purpose:\n        Job: work\n",
    )
    assert len(lines) == 2
    assert "columns.strat_date" in lines[0] and "codes.purpose.Job: 'work'" in lines[1]


def test_a_cpr_in_the_mapping_is_never_echoed(tmp_path: Path) -> None:
    """A CPR pasted into the file by mistake, as a source value or column name."""
    lines = mistakes(
        tmp_path,
        f"extracts:\n  benefit_weeks:\n    columns:\n      cpr: ['{CLEAR_CPR}', '{CLEAR_CPR}']\n"
        f"    codes:\n      benefit:\n        '{CLEAR_CPR}': nonsense\n",
    )
    assert len(lines) == 2
    assert all(CLEAR_CPR not in line and "010150-****" in line for line in lines)


def test_the_shipped_example_is_valid_and_names_every_contract_column_and_code() -> None:
    mapping = load_mapping(EXAMPLE_FILE)
    assert mapping.version == hashlib.sha256(EXAMPLE_FILE.read_bytes()).hexdigest()
    raw = yaml.safe_load(EXAMPLE_FILE.read_text(encoding="utf-8"))["extracts"]
    for name, spec in load_contract().extracts.items():
        assert set(raw[name]["columns"]) == set(spec.columns), name
        for column in spec.columns.values():
            if column.type == "code":
                assert set(raw[name]["codes"][column.name].values()) == set(column.codes or []), column.name
    # the example's Danish values as the issue names them
    assert raw["benefit_weeks"]["codes"]["benefit"]["Sygedagpenge"] == "sickness_benefit"
    assert raw["referral_results"]["codes"]["result_type"]["Ordinær beskæftigelse"] == "ordinary_job"
    assert raw["sickness_cases"]["codes"]["end_reason"]["Raskmeldt"] == "fit"


@pytest.mark.parametrize(
    ("name", "extract", "day"),
    [
        ("DREAM_ydelser_2024-03-05.csv", "benefit_weeks", date(2024, 3, 5)),
        ("dream_YDELSER_2024-03-05.XLSX", "benefit_weeks", date(2024, 3, 5)),
        ("eIndkomst_timer_20240305.parquet", "paid_hours", date(2024, 3, 5)),
    ],
)
def test_a_file_named_by_its_source_system_is_a_delivery(
    tmp_path: Path, name: str, extract: str, day: date
) -> None:
    mapping = load_mapping(EXAMPLE_FILE)
    path = tmp_path / name
    path.write_text("x\n")
    found = mapping.delivery(path, tmp_path)
    assert found is not None and (found.extract, found.delivery_date) == (extract, day)


def test_a_file_named_by_its_source_system_in_another_extracts_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "referrals" / "DREAM_ydelser_2024-03-05.csv"
    path.parent.mkdir()
    path.write_text("x\n")
    found = load_mapping(EXAMPLE_FILE).delivery(path, tmp_path)
    assert isinstance(found, Misnamed) and found.problem == (
        "a benefit_weeks delivery sits in referrals/; move it to benefit_weeks/"
    )


@pytest.mark.parametrize(
    "name", ["DREAM_ydelser_2024-13-05.csv", "DREAM_ydelser_2024-03-05.txt", "DREAM_2024.csv"]
)
def test_a_name_the_patterns_do_not_fit_is_no_delivery(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x\n")
    assert load_mapping(EXAMPLE_FILE).delivery(path, tmp_path) is None


def test_the_mapping_given_wins_then_the_raw_folders_then_the_working_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, cwd = tmp_path / "raw", tmp_path / "cwd"
    raw.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert find_mapping(raw) is None
    write(cwd, "extracts: {}\n")
    assert find_mapping(raw).path == Path("provmon.yaml")
    write(raw, "extracts: {}\n")
    assert find_mapping(raw).path == raw / "provmon.yaml"
    given = write(tmp_path, "extracts: {}\n", "site.yaml")
    assert find_mapping(raw, given).path == given
    with pytest.raises(ConfigError, match="does not exist"):
        find_mapping(raw, tmp_path / "missing.yaml")


def test_config_reaches_ingest_and_run_and_a_mistake_is_one_line_of_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline import cli

    parser = cli.build_parser()
    for verb in ("ingest", "run"):
        args = parser.parse_args([verb, "--config", "site.yaml"])
        assert cli._settings(args).config == Path("site.yaml")
    assert cli._settings(parser.parse_args(["build"])).config is None
    bad = write(tmp_path, "extracts:\n  referrals:\n    columns:\n      strat_date: Startdato\n")
    raw = tmp_path / "raw"
    raw.mkdir()
    code = cli.main(["ingest", "--check-mapping", "--raw-dir", str(raw), "--config", str(bad)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"provmon ingest: error: site mapping {bad}: extracts.referrals.columns.strat_date: 'strat_date' "
        "is not a column of referrals (columns: referral_id, cpr, agreement_id, booked_on, start_date, "
        "planned_end_date, end_date, end_reason, previous_referral_id, purpose, benefit_at_start, hours_min, "
        "hours_max, "
        "jobcenter_unit)"
    ]
