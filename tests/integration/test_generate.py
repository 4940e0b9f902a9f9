"""`provmon generate` at small scale, checked from the files it writes.

The files are read here with a reader of our own (pandas, the contract and pipeline.cpr only:
no generator code), so every check is independent of how the generator made them: each file
parses and has the contract's columns, nothing is dated after its delivery, the planted bad
rows counted here equal the ground truth's counts, and the planted provider roles show in
the data."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import cpr
from pipeline.contract import CONTRACT_FILE, Extract, load_contract
from pipeline.errors import ProvmonError
from pipeline.generate import generate
from pipeline.ingest.marker import unverified
from pipeline.settings import GROUND_TRUTH_FILE, SITE_MAPPING_FILE, SYNTHETIC_MARKER

pytestmark = pytest.mark.integration
SEED = 3
CONTRACT = load_contract()
MONTHLY = [name for name in CONTRACT.extracts if name not in ("providers", "agreements")]
GRANTS = {"flex_job", "disability_pension", "resource_course"}
# The shipped example site mapping, read here as plain YAML (not by pipeline.ingest.mapping).
SITE_EXAMPLE = CONTRACT_FILE.with_name("site-mapping.example.yaml")
_FILE = re.compile(r"^(?P<extract>[a-z_]+)_(?P<date>\d{8})\.(?P<ext>csv|xlsx|parquet)$")


# --- generated data sets (once per module) ------------------------------------------------------


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Path:
    """Small scale with the default dirt rate: planted bad rows and dialect variants."""
    out = tmp_path_factory.mktemp("dirty")
    generate("small", seed=SEED, out=out)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate("small", seed=SEED, out=out, dirt_rate=0)
    return out


def truth(out: Path) -> dict:
    return json.loads((out / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))


# --- an independent reader of the contract's dialects ---------------------------------------------


@cache
def read_delivery(path: Path) -> pd.DataFrame:
    """A delivery as text cells (None = empty), header names lower-cased and trimmed. Cached:
    callers must not change the frame."""
    if path.suffix in (".parquet", ".xlsx"):
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_excel(path, dtype=object)
        df = pd.DataFrame(
            {c: pd.Series([_cell(v) for v in raw[c].astype(object)], dtype=object) for c in raw}
        )
    else:
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            text = raw[3:].decode("utf-8")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("cp1252")
        header = text.splitlines()[0]
        sep = ";" if header.count(";") > header.count(",") else ","
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
        df = pd.DataFrame({c: pd.Series([v if v != "" else None for v in df[c]], dtype=object) for c in df})
    df.columns = [str(c).strip().lower() for c in df.columns]
    return _site_to_contract(df, path.parent.name)


def _folded(text: str) -> str:
    return " ".join(text.split()).lower()


def _site_to_contract(df: pd.DataFrame, extract: str) -> pd.DataFrame:
    """A delivery with the example site mapping's Danish headers in the contract's names and
    codes (an unknown value stays as it is); any other delivery unchanged."""
    site = yaml.safe_load(SITE_EXAMPLE.read_text(encoding="utf-8"))["extracts"].get(extract, {})
    names = {
        str(source).strip().lower(): column
        for column, sources in site.get("columns", {}).items()
        for source in ([sources] if isinstance(sources, str) else sources)
    }
    if not set(df.columns) & set(names):
        return df
    df = df.rename(columns=names)
    for column, values in site.get("codes", {}).items():
        lookup = {_folded(str(k)): v for k, v in values.items()}
        mapped = [None if v is None else lookup.get(_folded(v), v) for v in df[column]]
        df[column] = pd.Series(mapped, dtype=object, index=df.index)
    return df


def _cell(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def parse_date(text: str) -> dt.date | None:
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    return None


def parse_value(text: str, kind: str) -> object:
    """A typed value, or None when the text is not a value of that kind."""
    if kind == "date":
        return parse_date(text)
    if kind == "week":
        match = re.fullmatch(r"(\d{4})-W(\d{2})", text)
        if match:
            try:
                return dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
            except ValueError:
                return None
        return parse_date(text)
    if kind == "month":
        try:
            return dt.datetime.strptime(text, "%Y-%m").date()
        except ValueError:
            return None
    if kind in ("decimal", "int"):
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return None
    return text


def classify(df: pd.DataFrame, spec: Extract) -> pd.DataFrame:
    """One boolean column per dirt kind: which contract rule each row breaks."""
    kinds = {
        name: np.zeros(len(df), bool)
        for name in ("invalid_cpr", "bad_date", "unknown_code", "end_before_start", "negative_hours")
    }
    typed: dict[str, list] = {}
    for name, col in spec.columns.items():
        values = df[name].tolist()
        parsed = {v: parse_value(v, col.type) for v in set(values) if v is not None}  # few distinct
        typed[name] = [None if v is None else parsed[v] for v in values]
        filled = np.array([v is not None for v in values], dtype=bool)
        bad = filled & np.array([t is None for t in typed[name]], dtype=bool)
        if col.type == "cpr":
            valid = {v: cpr.parse(v) is not None for v in parsed}
            kinds["invalid_cpr"] |= np.array([v is not None and not valid[v] for v in values], dtype=bool)
        elif col.type in ("date", "week", "month"):
            kinds["bad_date"] |= bad
        elif col.type == "code":
            known = {c.lower() for c in col.codes or []}
            kinds["unknown_code"] |= np.array(
                [v is not None and v.lower() not in known for v in values], dtype=bool
            )
        elif col.type == "decimal" and col.min == 0:
            kinds["negative_hours"] |= np.array([t is not None and t < 0 for t in typed[name]], dtype=bool)
    for name, col in spec.columns.items():
        if col.not_before:
            kinds["end_before_start"] |= np.array(
                [
                    a is not None and b is not None and a < b
                    for a, b in zip(typed[name], typed[col.not_before], strict=True)
                ],
                dtype=bool,
            )
    out = pd.DataFrame(kinds)
    out["duplicate"] = df.duplicated(keep="first").to_numpy()
    return out


def deliveries(out: Path, extract: str) -> list[tuple[dt.date, Path]]:
    files = []
    for path in sorted((out / extract).iterdir()):
        match = _FILE.match(path.name)
        assert match and match["extract"] == extract, path.name
        files.append((dt.datetime.strptime(match["date"], "%Y%m%d").date(), path))
    return files


def latest_rows(out: Path, extract: str) -> pd.DataFrame:
    """The extract as known after the newest delivery: the newest row per business key wins."""
    frames = [read_delivery(p).assign(_delivery=d) for d, p in deliveries(out, extract)]
    df = pd.concat(frames, ignore_index=True).sort_values("_delivery", kind="stable")
    return df.drop_duplicates(CONTRACT.extracts[extract].key, keep="last")


# --- files and contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["dirty", "clean"])
def test_every_delivery_parses_with_the_contract_columns(fixture: str, request) -> None:
    out = request.getfixturevalue(fixture)
    files = truth(out)["files"]
    n_months = 24
    for name, spec in CONTRACT.extracts.items():
        found = deliveries(out, name)
        if name in MONTHLY:
            assert len(found) == n_months, name
        for _, path in found:
            df = read_delivery(path)
            extra = files[f"{name}/{path.name}"]["dialect"]["extra_column"]
            assert set(df.columns) == set(spec.columns) | ({extra} if extra else set()), path.name
            assert files[f"{name}/{path.name}"]["rows"] == len(df), path.name
    assert (out / SYNTHETIC_MARKER).exists()
    assert unverified(out) is None  # the marker lists every delivery with its hash


def test_dialect_variants_are_written_as_the_ground_truth_says(dirty: Path) -> None:
    files = truth(dirty)["files"]
    variants = {path: f["dialect"] for path, f in files.items() if f["dialect"] != _plain("csv")}
    assert any(
        d["encoding"] == "cp1252" and d["sep"] == ";" and d["decimal"] == "," for d in variants.values()
    )
    assert any(d["format"] == "xlsx" for d in variants.values())
    assert any(d["week_format"] == "iso_week" for d in variants.values())
    assert any(d["date_format"] == "dmy_dot" for d in variants.values())
    assert any(d["headers"] for d in variants.values())
    site = [p for p, d in variants.items() if d["site"]]
    assert {p.split("/")[0] for p in site} >= {"referrals", "benefit_weeks", "sickness_cases"}
    assert (dirty / SITE_MAPPING_FILE).read_bytes() == SITE_EXAMPLE.read_bytes()  # read by ingest
    weeks = next(p for p in site if p.startswith("benefit_weeks/"))
    text = (dirty / weeks).read_text(encoding="utf-8")
    assert (
        text.startswith("CPR-nr.,Uge,Ydelse\n")
        and ",Sygedagpenge\n" in text
        and "sickness_benefit" not in text
    )
    cp1252 = next(p for p, d in variants.items() if d["encoding"] == "cp1252")
    raw = (dirty / cp1252).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # æøå in jobcenter_unit make a wrong encoding visible
    text = raw.decode("cp1252")
    assert "\r\n" in text and re.search(r";\d{2}-\d{2}-\d{4};", text) and re.search(r";\d+,\d;", text)


def _plain(fmt: str) -> dict:
    return {
        "format": fmt,
        "encoding": "utf-8",
        "bom": False,
        "sep": ",",
        "decimal": ".",
        "date_format": "iso",
        "week_format": "date",
        "headers": None,
        "extra_column": None,
        "crlf": False,
        "site": False,
    }


def test_planted_bad_rows_match_the_ground_truth_file_by_file(dirty: Path) -> None:
    files = truth(dirty)["files"]
    for path, info in files.items():
        spec = CONTRACT.extracts[info["extract"]]
        found = classify(read_delivery(dirty / path), spec)
        assert (found.sum(axis=1) <= 1).all(), f"{path}: a planted row breaks more than one rule"
        counted = {kind: int(n) for kind, n in found.sum().items() if n}
        assert counted == info["planted"], path
        assert info["rows_breaking_contract"] == sum(n for k, n in counted.items() if k != "duplicate")


def test_every_kind_of_dirt_is_planted(dirty: Path) -> None:
    totals = truth(dirty)["planted_total"]
    assert set(totals) == {
        "invalid_cpr",
        "bad_date",
        "unknown_code",
        "duplicate",
        "end_before_start",
        "negative_hours",
    }
    assert all(n > 0 for n in totals.values())


def test_dirt_rate_zero_writes_plain_clean_files(clean: Path) -> None:
    t = truth(clean)
    assert not (clean / SITE_MAPPING_FILE).exists()
    assert t["planted_total"] == {}
    for path, info in t["files"].items():
        assert info["dialect"] == _plain("csv"), path
        found = classify(read_delivery(clean / path), CONTRACT.extracts[info["extract"]])
        assert not found.to_numpy().any(), path


def test_every_cpr_is_a_valid_fictitious_number_of_a_30_to_64_year_old_but_a_few(clean: Path) -> None:
    refs = latest_rows(clean, "referrals")
    info = refs["cpr"].map(cpr.parse)
    assert info.notna().all()
    born = info.map(lambda i: i.birth_date)
    start = refs["start_date"].map(parse_date)
    age = [s.year - b.year - ((s.month, s.day) < (b.month, b.day)) for s, b in zip(start, born, strict=True)]
    assert min(age) >= 25 and max(age) <= 64
    assert 0 < np.mean(np.array(age) < 30) < 0.05  # a few under 30, which validation warns about
    registered: set[str] = set()
    for extract in ("paid_hours", "benefit_weeks", "sickness_cases", "rehab_decisions"):
        numbers = pd.concat(read_delivery(p)["cpr"] for _, p in deliveries(clean, extract)).unique()
        assert all(cpr.parse(n) is not None for n in numbers), extract
        registered |= set(numbers)
    # a register covers citizens referred only after the period too (their history before it);
    # a rehabilitation decision comes after a referral
    lead = truth(clean)["lead"]
    assert len(registered - set(refs["cpr"])) == lead["citizens_in_registers"] > 0
    decided = pd.concat(read_delivery(p)["cpr"] for _, p in deliveries(clean, "rehab_decisions"))
    assert set(decided) <= set(refs["cpr"]), "rehab_decisions has citizens without a referral"


def test_nothing_is_dated_after_its_delivery(dirty: Path) -> None:
    planned = {"planned_end_date"}  # a plan is about the future by nature
    for name, spec in CONTRACT.extracts.items():
        dated = [
            c.name
            for c in spec.columns.values()
            if c.type in ("date", "week", "month") and c.name not in planned
        ]
        for delivered, path in deliveries(dirty, name):
            df = read_delivery(path)
            for column in dated:
                kind = spec.columns[column].type
                values = [parse_value(v, kind) for v in df[column] if v is not None]
                values = [v for v in values if v is not None]  # planted bad dates have no date
                assert not values or max(values) <= delivered, (path.name, column)


def test_same_seed_gives_byte_identical_files(dirty: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate("small", seed=SEED, out=again)
    for path in truth(dirty)["files"]:
        if path.endswith(".csv"):
            assert (dirty / path).read_bytes() == (again / path).read_bytes(), path
    assert (dirty / GROUND_TRUTH_FILE).read_text() == (again / GROUND_TRUTH_FILE).read_text()
    other = tmp_path / "other"
    generate("small", seed=SEED + 1, out=other)
    first = "referrals/referrals_20230205.csv"
    assert (dirty / first).read_bytes() != (other / first).read_bytes()


# --- deliveries as the municipality sends them --------------------------------------------------------


def test_late_end_dates_and_corrections_arrive_in_later_deliveries(clean: Path) -> None:
    frames = [read_delivery(p).assign(_delivery=d) for d, p in deliveries(clean, "referrals")]
    rows = pd.concat(frames, ignore_index=True)
    first = (
        rows.sort_values("_delivery").drop_duplicates("referral_id", keep="first").set_index("referral_id")
    )
    last = rows.sort_values("_delivery").drop_duplicates("referral_id", keep="last").set_index("referral_id")
    resent = last["_delivery"] > first.loc[last.index, "_delivery"]
    assert resent.sum() > 500
    late_end = first.loc[last.index, "end_date"].isna() & last["end_date"].notna()
    assert late_end.sum() > 500
    assert last.loc[last["end_date"].notna(), "end_reason"].notna().all()
    changed = (
        first.loc[last.index, ["planned_end_date", "hours_min", "hours_max"]]
        != last[["planned_end_date", "hours_min", "hours_max"]]
    ).any(axis=1)
    assert changed.sum() > 10  # corrections of an earlier row
    booked = rows.drop_duplicates("referral_id")
    booked_month = booked["booked_on"].map(lambda v: parse_date(v).replace(day=1))
    delivered_month = booked["_delivery"].map(
        lambda d: (d.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    )
    assert (booked_month <= delivered_month).all()
    assert (booked_month == delivered_month).mean() > 0.9  # each delivery: the referrals booked that month


def test_register_extracts_backfill_history_in_the_first_delivery(clean: Path) -> None:
    (_, first), (_, second) = deliveries(clean, "paid_hours")[:2]
    months = read_delivery(first)["month"].map(lambda m: parse_value(m, "month"))
    assert months.min() < dt.date(2022, 6, 1) < months.max()
    assert set(read_delivery(second)["month"]) == {"2023-02"}
    weeks = read_delivery(deliveries(clean, "benefit_weeks")[1][1])["week_start"].map(parse_date)
    assert {w.month for w in weeks} == {2} and all(w.weekday() == 0 for w in weeks)


# --- the planted world ----------------------------------------------------------------------------


def test_providers_agreements_and_roles(clean: Path) -> None:
    t = truth(clean)
    providers = latest_rows(clean, "providers").set_index("provider_id")
    assert set(providers.index) == set(t["providers"])
    assert providers["cvr"].str.fullmatch(r"\d{8}").all()
    for area in (1, 2):
        roles = {p["role"] for p in t["providers"].values() if area in p["areas"]}
        assert {"worse", "better", "hard_intake", "drops"} <= roles, area
    # the tender of July 2024: five providers in area 1, then four; four in area 2, then three
    for period, expected in (("old", {1: 5, 2: 4, 3: 2, 4: 2}), ("new", {1: 4, 2: 3, 3: 2, 4: 2})):
        serving = [p for p in t["providers"].values() if p["period"] in (period, "both")]
        assert {a: sum(a in p["areas"] for p in serving) for a in (1, 2, 3, 4)} == expected, period
    drops = [p for p in t["providers"].values() if p["role"] == "drops"]
    assert all(p["drop_month"] and p["effects_from_drop_month"]["has_result"] < 0 for p in drops)
    agreements = latest_rows(clean, "agreements")
    price = agreements["price_dkk"].astype(float)
    week = np.where(agreements["price_model"] == "day", price * 7, price)  # a day price per calendar day
    offer = agreements["offer_code"].str.lower()
    index = 1.025 * 1.001  # one yearly index within the small period, and rounding
    assert ((week >= 1850 - 4) & (week <= 2150 * index))[offer == "helh"].all()
    assert (week < 1850)[offer != "helh"].all()
    assert ((week >= 575 - 4) & (week <= 700 * index))[offer == "eftv"].all()
    assert (agreements["price_model"] == "day").any()
    assert set(agreements["provider_id"]) <= set(providers.index)


def referral_frame(out: Path) -> pd.DataFrame:
    """Referrals as known at the end, with provider, area and the case-mix covariates
    benefit_weeks_52 and paid_hours_baseline computed from the register extracts."""
    refs = latest_rows(out, "referrals")
    agreements = latest_rows(out, "agreements").set_index("agreement_id")
    refs = refs.assign(
        provider=refs["agreement_id"].map(agreements["provider_id"]),
        area=refs["agreement_id"].map(agreements["tender_area"]).astype(int),
        s=refs["start_date"].map(parse_date),
        e=refs["end_date"].map(lambda v: parse_date(v) if v else None),
    )
    weeks = latest_rows(out, "benefit_weeks")
    weeks = weeks[weeks["benefit"] != "student_grant"]
    on_benefit = set(zip(weeks["cpr"], weeks["week_start"].map(parse_date), strict=True))
    hours = latest_rows(out, "paid_hours")
    paid = {(c, m): float(h) for c, m, h in zip(hours["cpr"], hours["month"], hours["hours"], strict=True)}

    def weeks_52(row) -> int:
        monday = row.s - dt.timedelta(days=row.s.weekday())
        return sum((row.cpr, monday - dt.timedelta(weeks=k)) in on_benefit for k in range(1, 53))

    def baseline(row) -> float:
        month = pd.Period(row.s, "M")
        return sum(paid.get((row.cpr, str(month - k)), 0.0) for k in (1, 2, 3)) / 3

    refs["benefit_weeks_52"] = [weeks_52(r) for r in refs.itertuples()]
    refs["paid_hours_baseline"] = [baseline(r) for r in refs.itertuples()]
    refs["prior_referrals"] = refs.groupby("cpr")["s"].rank(method="first") - 1
    return refs


@pytest.fixture(scope="module")
def referrals(clean: Path) -> pd.DataFrame:
    return referral_frame(clean)


def test_hard_intake_is_harder_on_the_observable_covariates(clean: Path, referrals: pd.DataFrame) -> None:
    t = truth(clean)
    for pid, info in t["providers"].items():
        if info["role"] != "hard_intake":
            continue
        area = referrals[referrals["area"] == info["areas"][0]]
        mine, others = area[area["provider"] == pid], area[area["provider"] != pid]
        assert len(mine) > 100
        assert (mine["paid_hours_baseline"] > 0).mean() < (others["paid_hours_baseline"] > 0).mean() - 0.05, (
            pid
        )
        long_term = 26
        assert (mine["benefit_weeks_52"] >= long_term).mean() > (
            others["benefit_weeks_52"] >= long_term
        ).mean(), pid


def test_planted_roles_show_in_the_raw_results(clean: Path, referrals: pd.DataFrame) -> None:
    """Registered results (area 1's primary measure) among closed referrals and raskmeldinger
    within 6 months (area 2's) order the worse and better providers as planted."""
    t = truth(clean)
    as_of = dt.date.fromisoformat(t["as_of"])
    role = {pid: p["role"] for pid, p in t["providers"].items()}
    results = latest_rows(clean, "referral_results").assign(d=lambda r: r["result_date"].map(parse_date))
    courses = course_frame(t, referrals)
    closed = courses[courses["e"].notna() & (courses["e"] <= as_of - dt.timedelta(days=30))]
    results = results.assign(course=results["referral_id"].map(course_of(t)).fillna(results["referral_id"]))
    merged = closed.merge(results[["course", "d"]], on="course", how="left")
    ok = (
        merged["d"].notna()
        & (merged["d"] >= merged["s"])
        & (merged["d"] <= merged["e"] + dt.timedelta(days=30))
    )
    has_result = ok.groupby(merged["course"]).any()
    rate = closed.assign(r=closed["course"].map(has_result)).groupby("provider")["r"].mean()
    area1 = {role[p]: rate[p] for p in rate.index if 1 in t["providers"][p]["areas"]}
    # about 130 closed courses per provider: a rate's standard error is about 0.04, so only the
    # larger gap to the better provider is asked to exceed 0.1 (the planted effects themselves are
    # checked on city-scale data by test_risk_adjustment_city)
    assert area1["worse"] < area1["normal"] < area1["better"] - 0.1
    assert area1["worse"] + 0.2 < area1["better"]

    cases = latest_rows(clean, "sickness_cases")
    cases = cases.assign(
        first=cases["first_sick_day"].map(parse_date),
        end=cases["case_end_date"].map(lambda v: parse_date(v) if v else None),
        why=cases["end_reason"],
    )
    mature = courses[courses["s"] <= as_of - dt.timedelta(days=182)]
    m = mature.merge(cases[["cpr", "first", "end", "why"]], on="cpr")
    open_at_start = (m["first"] <= m["s"]) & (m["end"].isna() | (m["end"] >= m["s"]))
    fit = m["why"].isin(["fit", "partially_fit"]) & (m["end"] <= m["s"] + dt.timedelta(days=182))
    m = m[open_at_start].assign(fit=fit[open_at_start])
    fit_rate = (
        m.groupby("course")
        .agg(provider=("provider", "first"), fit=("fit", "any"))
        .groupby("provider")["fit"]
        .mean()
    )
    area2 = {role[p]: fit_rate[p] for p in fit_rate.index if 2 in t["providers"][p]["areas"]}
    assert area2["worse"] + 0.1 < area2["better"]


def course_of(t: dict) -> dict[str, str]:
    """Referral id -> the id of its course (the chain's first referral), for the links of the
    planted chains (metrics.md: course chains)."""
    return {link: first for first, links in t["chains"]["courses"].items() for link in links}


def course_frame(t: dict, referrals: pd.DataFrame) -> pd.DataFrame:
    """One row per course (not efterværn): the first link's row with s = the chain's first
    start and e = its last end (NULL while the last link is ongoing)."""
    refs = referrals[~referrals["referral_id"].isin(t["chains"]["aftercare"])]
    refs = refs.assign(course=refs["referral_id"].map(course_of(t)).fillna(refs["referral_id"]))
    refs = refs.sort_values(["course", "s"])
    last_end = refs.groupby("course")["e"].last()
    first = refs.drop_duplicates("course", keep="first").set_index("course")
    return first.assign(e=last_end).reset_index()


def test_the_data_look_like_register_data(clean: Path, referrals: pd.DataFrame) -> None:
    t = truth(clean)
    continuations = {link for links in t["chains"]["courses"].values() for link in links[1:]}
    firsts = referrals[~referrals["referral_id"].isin(continuations)]  # a course's plan is from its start
    planned_weeks = (firsts["planned_end_date"].map(parse_date) - firsts["s"]).map(lambda d: d.days) / 7
    assert planned_weeks.min() >= 7 and planned_weeks.max() <= 26 + 8  # 8-26 weeks, some extended
    at_start = referrals.groupby("area")["benefit_at_start"].agg(lambda b: b.value_counts().idxmax())
    assert at_start[1] == "cash_assistance" and at_start[2] == "sickness_benefit"
    assert referrals["jobcenter_unit"].str.contains("ø|æ|å", regex=True).any()
    hours = latest_rows(clean, "paid_hours")["hours"].astype(float)
    assert hours.min() > 0 and hours.max() < 200 and ((hours >= 5) & (hours <= 40)).mean() > 0.05
    by_month = referrals["booked_on"].map(lambda v: parse_date(v).month).value_counts()
    assert by_month[7] < by_month.drop(7).mean()  # the summer holiday is quiet
    attendance = latest_rows(clean, "attendance")
    assert (attendance["attended_hours"].astype(float) <= attendance["planned_hours"].astype(float)).all()
    rehab = latest_rows(clean, "rehab_decisions").merge(
        referrals[["cpr", "area"]].drop_duplicates("cpr"), on="cpr"
    )
    assert rehab[rehab["outcome"].isin(GRANTS)]["area"].value_counts().idxmax() == 1


# --- the command's behaviour ----------------------------------------------------------------------


def test_summary_is_one_line_with_files_rows_and_seconds(tmp_path: Path) -> None:
    summary = generate("small", seed=1, out=tmp_path / "raw", dirt_rate=0)
    text = str(summary)
    assert "\n" not in text and f"{summary.files} files" in text and "referrals" in text and " s" in text
    assert summary.rows["referrals"] > 2000 and summary.planted == 0


def test_regenerating_replaces_an_earlier_synthetic_run(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    generate("small", seed=1, out=out, dirt_rate=0)
    (out / ".gitkeep").write_text("")
    generate("small", seed=2, out=out, dirt_rate=0)
    assert truth(out)["seed"] == 2
    assert len(list((out / "referrals").iterdir())) == 24


def test_refuses_a_folder_of_real_deliveries(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    (out / "referrals").mkdir(parents=True)
    (out / "referrals" / "referrals_20240105.csv").write_text("referral_id\n")
    with pytest.raises(ProvmonError, match="not an earlier synthetic"):
        generate("small", seed=1, out=out)
    assert (out / "referrals" / "referrals_20240105.csv").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": "huge"}, "unknown scale"),
        ({"scale": "small", "dirt_rate": 0.5}, "dirt-rate"),
        ({"scale": "small", "dirt_rate": -0.1}, "dirt-rate"),
    ],
)
def test_bad_arguments_are_user_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ProvmonError, match=message):
        generate(seed=1, out=tmp_path / "raw", **kwargs)
