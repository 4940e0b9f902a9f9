"""The report marts of a real build of the small data set against plain pandas counts of the
exported fct_referral_outcomes (metrics.md: a month's base is the window ends of the rolling
months up to and including it), and dim_parameters against the dbt vars."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd
import pytest
import yaml

from pipeline.build import PROJECT_DIR, dbt_args, run_dbt
from pipeline.decisions.rules import load_rules
from pipeline.reports.config import load_config
from pipeline.reports.data import load_report_data
from pipeline.reports.views import AreaView
from pipeline.settings import Settings

pytestmark = pytest.mark.integration


def _read(settings: Settings, name: str) -> pd.DataFrame:
    frame = pd.read_parquet(settings.marts_dir / f"{name}.parquet")
    if "as_of_month" in frame:
        frame["as_of_month"] = pd.to_datetime(frame["as_of_month"])
    return frame


def _vars() -> dict:
    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


def _in_base(dates: pd.Series, month: pd.Timestamp, months: int) -> pd.Series:
    window = pd.to_datetime(dates).dt.to_period("M").dt.to_timestamp()
    return (window <= month) & (window > month - pd.DateOffset(months=months))


def test_flow_counts_every_month_as_pandas_does(small_warehouse: Settings) -> None:
    outcomes = _read(small_warehouse, "fct_referral_outcomes")
    flow = _read(small_warehouse, "mart_referral_flow")
    months = int(_vars()["rolling_months"])
    start, stop = pd.to_datetime(outcomes["start_date"]), pd.to_datetime(outcomes["end_date"])
    for month in sorted(flow["as_of_month"].unique())[-14:]:
        end = month + pd.offsets.MonthEnd(0)
        now = flow[flow["as_of_month"] == month].set_index(["provider_id", "tender_area"])
        keys = [outcomes["provider_id"], outcomes["tender_area"]]
        expected = {
            "started": ((start >= month) & (start <= end)).groupby(keys).sum(),
            "ended": ((stop >= month) & (stop <= end)).groupby(keys).sum(),
            "ongoing": ((start <= end) & (stop.isna() | (stop > end))).groupby(keys).sum(),
            "ended_base": (stop.notna() & _in_base(stop, month, months)).groupby(keys).sum(),
        }
        for column, counts in expected.items():
            assert now[column].to_dict() == counts.reindex(now.index).to_dict(), (month, column)


def test_bands_and_grants_add_up_to_the_provider_results(small_warehouse: Settings) -> None:
    results = _read(small_warehouse, "mart_provider_results").set_index(
        ["as_of_month", "provider_id", "tender_area", "measure"]
    )
    bands = _read(small_warehouse, "mart_progression_bands")
    per = bands.groupby(["as_of_month", "provider_id", "tender_area", "measure"])["referrals"].sum()
    assert len(per) > 0
    assert (per == results.loc[per.index, "n"]).all()
    assert sorted(bands["band_label"].unique()) == sorted(b["label"] for b in _vars()["progression_bands"])
    grants = _read(small_warehouse, "mart_rehab_grant_types")
    granted = grants.groupby(["as_of_month", "provider_id", "tender_area"])["referrals"].sum()
    index = [(*key, "rehab_grant_within_12m") for key in granted.index]
    assert len(granted) > 0
    assert (granted.to_numpy() == results.loc[index, "successes"].to_numpy()).all()


def test_the_parameters_are_the_builds(small_warehouse: Settings) -> None:
    values = _read(small_warehouse, "dim_parameters").set_index("parameter")["value"]
    dbt_vars = _vars()
    for name in ("min_n", "rolling_months", "funnel_warning_level", "funnel_alarm_level", "funnel_limits"):
        assert values[name] == str(dbt_vars[name]), name
    results = _read(small_warehouse, "mart_provider_results")
    assert pd.Timestamp(values["as_of"]) == pd.to_datetime(results["as_of_date"]).max()


def test_a_build_with_other_vars_changes_the_reports_numbers_and_text(
    warehouse_copy: Callable[[str], Settings], small_warehouse: Settings
) -> None:
    """dbt build --vars '{rolling_months: 6, funnel_warning_level: 0.9}': the report's flow
    counts a 6-month base and its texts name 6 months and the 90 % limit."""
    settings = warehouse_copy("vars")
    schema = "rolling_six"
    select = ["--select", "+mart_referral_flow", "+mart_progression_bands", "+dim_parameters"]
    changed = "{rolling_months: 6, funnel_warning_level: 0.9}"
    run_dbt(settings.warehouse, [*dbt_args(None, ("run", *select)), "--vars", changed], schema=schema)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        for name in ("mart_referral_flow", "mart_progression_bands", "dim_parameters"):
            path = str(settings.marts_dir / f"{name}.parquet").replace("'", "''")
            con.execute(f"copy {schema}.{name} to '{path}' (format parquet)")
    finally:
        con.close()

    config = load_config()
    data = load_report_data(settings.marts_dir, None, config)
    outcomes = _read(settings, "fct_referral_outcomes")
    stop = pd.to_datetime(outcomes["end_date"])
    month = pd.Timestamp(data.month)
    six = (
        (stop.notna() & _in_base(stop, month, 6))
        .groupby([outcomes["provider_id"], outcomes["tender_area"]])
        .sum()
    )
    now = data.flow[data.flow["month"] == month].set_index(["provider_id", "tender_area"])
    assert now["ended_base"].to_dict() == six.reindex(now.index).to_dict()
    published = _read(small_warehouse, "mart_referral_flow")
    twelve = published[published["as_of_month"] == month].set_index(["provider_id", "tender_area"])
    assert (twelve["ended_base"].reindex(now.index) > now["ended_base"]).any()

    area = data.areas()[0]
    view = AreaView(data, area, config, load_rules(), data.provider_names())
    assert "Afsluttet i de seneste 6 måneder" in {trace.name for trace in view.flow().data}
    assert "Grænserne er 90 % og 99,8 %." in view.funnel_note()
    assert "90 %-grænse" in {trace.name for trace in view.funnel().data}


def test_the_early_warning_chart_is_exported_as_the_warehouse_holds_it(small_warehouse: Settings) -> None:
    """fct_provider_cusum reaches data/marts/ with the other marts (the reports read only the
    Parquet files), row for row."""
    path = small_warehouse.marts_dir / "fct_provider_cusum.parquet"
    assert path.exists()
    with duckdb.connect(str(small_warehouse.warehouse), read_only=True) as con:
        rows = con.execute("select count(*) from main.fct_provider_cusum").fetchone()[0]
        differ = con.execute(
            f"select count(*) from (select * from main.fct_provider_cusum except all "
            f"select * from read_parquet('{path}'))"
        ).fetchone()[0]
    assert rows > 0 and differ == 0
    assert len(pd.read_parquet(path)) == rows
