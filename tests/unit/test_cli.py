"""The CLI's promises: one clear line and a non-zero exit for a user error, no traceback unless
--debug, and never a clear CPR number in what it prints."""

from __future__ import annotations

import argparse

import pytest

from pipeline import cli
from pipeline.errors import ProvmonError


def _failing_ingest(message: str, exc_type: type[Exception] = ProvmonError):
    def verb(args: argparse.Namespace) -> str:
        raise exc_type(message)

    return verb


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], verb, *argv: str):
    monkeypatch.setattr(cli, "cmd_ingest", verb)
    code = cli.main(["ingest", *argv])
    return code, capsys.readouterr()


def test_user_error_is_one_line_with_exit_2(monkeypatch, capsys) -> None:
    code, out = _run(monkeypatch, capsys, _failing_ingest("file x.csv has no header"))
    assert code == 2
    assert out.err.strip().splitlines() == ["provmon ingest: error: file x.csv has no header"]
    assert "Traceback" not in out.err


def test_error_messages_never_show_a_clear_cpr(monkeypatch, capsys) -> None:
    code, out = _run(monkeypatch, capsys, _failing_ingest("bad row for 0101901234 and 020290-4321"))
    assert code == 2
    assert "0101901234" not in out.err and "4321" not in out.err
    assert "010190-****" in out.err and "020290-****" in out.err


def test_a_bug_is_short_without_debug_and_a_traceback_with_it(monkeypatch, capsys) -> None:
    code, out = _run(monkeypatch, capsys, _failing_ingest("boom", RuntimeError))
    assert code == 1
    assert "internal error: RuntimeError: boom" in out.err and "--debug" in out.err
    assert "Traceback" not in out.err
    with pytest.raises(RuntimeError):
        _run(monkeypatch, capsys, _failing_ingest("boom", RuntimeError), "--debug")


def test_summary_line_goes_to_stdout(monkeypatch, capsys) -> None:
    code, out = _run(monkeypatch, capsys, lambda args: "ingest: 3 files loaded")
    assert code == 0
    assert out.out.strip() == "ingest: 3 files loaded"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["build", "--as-of", "2024-13-01"], "not a date of the form YYYY-MM-DD"),
        (["decide", "--month", "2024-6-1"], "not a month of the form YYYY-MM"),
        (["generate", "--scale", "huge"], "invalid choice"),
    ],
)
def test_bad_arguments_are_refused_by_the_parser(argv, expected, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err


def test_override_needs_its_fields(capsys) -> None:
    code = cli.main(["decide", "override", "--month", "2024-05", "--provider", "P01"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--area" in err and "--state" in err and "--reason" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["generate", "--seed", "-5"], "argument --seed: '-5' is not a whole number from 0 up"),
        (["generate", "--dirt-rate", "1.5"], "argument --dirt-rate: '1.5' is not a share from 0 to 1"),
        (["build", "--as-of", "2024-13-01"], "not a date of the form YYYY-MM-DD"),
    ],
)
def test_a_usage_error_is_one_line_with_exit_2(argv, expected, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a generate that ran anyway would write here, not into data/
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0] and lines[0].startswith(f"provmon {argv[0]}: error:")
    assert not (tmp_path / "data").exists()


def test_version_is_the_installed_package_version(capsys) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"provmon {version('provmon')}"


OVERRIDE = ("--state", "RED", "--reason", "x")


@pytest.mark.parametrize(
    "argv",
    [
        ["decide"],
        ["decide", "override", "--month", "2024-05", "--provider", "P01", "--area", "1", *OVERRIDE],
        ["backtest"],
    ],
)
def test_decide_and_backtest_never_create_a_warehouse(argv, capsys, tmp_path) -> None:
    warehouse = tmp_path / "nowhere" / "warehouse.duckdb"
    code = cli.main([*argv, "--warehouse", str(warehouse), "--out-dir", str(tmp_path / "out")])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no warehouse at" in lines[0] and "provmon ingest" in lines[0]
    assert not warehouse.parent.exists()


def test_build_is_incremental_unless_full_refresh_is_given() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["build"]).full_refresh is False
    assert parser.parse_args(["build", "--full-refresh"]).full_refresh is True


@pytest.mark.parametrize(
    ("argv", "lands_in"),
    [
        (["--raw-dir", "deliveries"], "deliveries"),
        (["--out", "elsewhere", "--raw-dir", "deliveries"], "elsewhere"),
        ([], "data/raw"),
    ],
)
def test_generate_writes_where_the_raw_folder_is_named(argv, lands_in, tmp_path, monkeypatch) -> None:
    """--raw-dir names the raw folder for every verb: generate writing to data/raw while told
    --raw-dir X left the next `provmon ingest --raw-dir X` with nothing to load. --out, when
    given, still wins."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["generate", "--scale", "small", *argv]) == 0
    written = sorted(p.name for p in tmp_path.glob("**/SYNTHETIC_DATA.txt"))
    assert written == ["SYNTHETIC_DATA.txt"]
    assert (tmp_path / lands_in / "SYNTHETIC_DATA.txt").exists()
