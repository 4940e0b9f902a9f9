"""The generator's world (world.yaml) as validated models.

Every number that shapes the synthetic data lives in the YAML file, so that an analyst can make
a provider worse, a tender area larger or the dirt rarer without touching code; this module
only checks that what is there makes sense before any row is generated."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.contract import load_contract
from pipeline.errors import ConfigError

WORLD_FILE = Path(__file__).with_name("world.yaml")
DRIVERS = ("paid_hours", "sustained", "result", "fit", "rehab_grant")
ROLES = ("normal", "worse", "better", "hard_intake", "drops")
DIRT_KINDS = ("invalid_cpr", "bad_date", "unknown_code", "duplicate", "end_before_start", "negative_hours")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

Share = float
Range = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_shares(shares: dict, what: str) -> dict:
    if not shares or any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
        raise ValueError(f"{what}: shares must be non-negative with a positive sum")
    return shares


class Scale(_Model):
    referrals: int = Field(gt=0)
    first_month: str
    months: int = Field(ge=3, le=240)
    persons_per_chunk: int = Field(gt=0)
    dirt_rate: float = Field(ge=0, le=0.2)
    big_extract_format: Literal["csv", "parquet"]

    @field_validator("first_month")
    @classmethod
    def _month(cls, v: str) -> str:
        if not _MONTH.match(v):
            raise ValueError(f"first_month {v!r} is not YYYY-MM")
        return v


class Calendar(_Model):
    delivery_day: int = Field(ge=1, le=28)
    history_weeks: int = Field(ge=52, le=60)
    follow_months: int = Field(ge=19, le=20)
    seasonality: list[float] = Field(min_length=12, max_length=12)
    monday_start_share: Share = Field(ge=0, le=1)
    booking_lag_days: Range


class TenderArea(_Model):
    name: str
    share: Share = Field(gt=0)
    offers: dict[str, Share]
    purposes: dict[str, Share]
    benefit_at_start: dict[str, Share]
    female_share: Share = Field(ge=0, le=1)
    jobcenter_units: dict[str, Share]

    @model_validator(mode="after")
    def _shares(self) -> TenderArea:
        for what in ("offers", "purposes", "benefit_at_start", "jobcenter_units"):
            _check_shares(getattr(self, what), f"{self.name}: {what}")
        if "none" in self.benefit_at_start:
            raise ValueError(f"{self.name}: benefit_at_start cannot be 'none'")
        return self


class Offer(_Model):
    weeks: tuple[int, int]
    hours_min: Range
    hours_extra: Range
    week_price: Range


class Provider(_Model):
    name: str
    areas: list[int] = Field(min_length=1)
    role: Literal["normal", "worse", "better", "hard_intake", "drops"]
    capacity: float = Field(gt=0)
    intake_tilt: float = 0.0
    # the tender periods it has agreements in: `old` leaves at the tender change, `new` enters
    period: Literal["both", "old", "new"] = "both"


class Role(_Model):
    effects: dict[str, float]
    drop_at: float | None = Field(default=None, gt=0, lt=1)
    effects_after_drop: dict[str, float] | None = None

    @model_validator(mode="after")
    def _drivers(self) -> Role:
        for effects in (self.effects, self.effects_after_drop or {}):
            unknown = set(effects) - set(DRIVERS)
            if unknown:
                raise ValueError(f"unknown outcome drivers {sorted(unknown)}; use {DRIVERS}")
        if (self.drop_at is None) != (self.effects_after_drop is None):
            raise ValueError("drop_at and effects_after_drop go together")
        return self

    def effect(self, driver: str, dropped: bool = False) -> float:
        source = self.effects_after_drop if dropped and self.effects_after_drop else self.effects
        return float(source.get(driver, 0.0))


class ProviderUpdate(_Model):
    provider: str
    at: float = Field(gt=0, lt=1)
    name: str | None = None
    add_cvr: bool = False


class OfferAdded(_Model):
    provider: str
    area: int
    offer: str
    at: float = Field(gt=0, lt=1)


class Agreements(_Model):
    day_price_share: Share = Field(ge=0, le=1)
    valid_from_years_before: int = Field(ge=0)
    yearly_price_index: float = Field(gt=0)
    capacity_margin: float = Field(gt=0)
    offer_added: list[OfferAdded] = []


class Tender(_Model):
    """The tender change (udbud): the old period's agreements end the day before `change`;
    from then on, new agreements with hour spans and no rebookings."""

    change: str

    @field_validator("change")
    @classmethod
    def _month(cls, v: str) -> str:
        if not _MONTH.match(v):
            raise ValueError(f"tender.change {v!r} is not YYYY-MM")
        return v


class Rebooking(_Model):
    """Ombooking before the tender change: a change of weekly hours ends the referral
    (end_reason rebooked) and a new referral continues the course."""

    course_share: Share = Field(ge=0, le=1)
    again_share: Share = Field(ge=0, le=1)
    gap_days: tuple[int, int]
    min_days_in: int = Field(ge=1)
    named_share: Share = Field(ge=0, le=1)
    hours_change: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _gap(self) -> Rebooking:
        if not 0 <= self.gap_days[0] <= self.gap_days[1] <= 7:
            raise ValueError("rebooking.gap_days must lie within 0 .. 7 (the chain rule of metrics.md)")
        return self


class Aftercare(_Model):
    """Efterværn: a referral to the aftercare offer after a course that ended in a job or
    education."""

    offer: str
    areas: list[int] = Field(min_length=1)
    share: Share = Field(ge=0, le=1)
    after_reasons: list[str] = Field(min_length=1)
    start_days: tuple[int, int]
    purpose: str
    result_share: Share = Field(ge=0, le=1)
    result_types: dict[str, Share]
    capacity_share: Share = Field(gt=0, le=1)


class Citizens(_Model):
    age_at_first_start: tuple[int, int]
    # a few citizens younger than the target groups (over 30), which validation warns about
    under_30_share: Share = Field(default=0.0, ge=0, le=0.1)
    under_30_age: tuple[int, int] = (25, 30)
    max_age_at_start: int
    referrals_per_citizen: dict[int, Share]
    days_between_starts: tuple[int, int]
    same_area_share: Share = Field(ge=0, le=1)
    replacement_cpr_share: Share = Field(ge=0, le=0.1)

    @model_validator(mode="after")
    def _ages(self) -> Citizens:
        lo, hi = self.age_at_first_start
        if not 18 <= lo < hi <= self.max_age_at_start + 1:
            raise ValueError("age_at_first_start must lie within 18 .. max_age_at_start")
        if self.days_between_starts[0] < 300:
            # a later course must not start before the previous one has ended (26 weeks + an
            # extension of 8)
            raise ValueError("days_between_starts must start at 300 or more")
        _check_shares(self.referrals_per_citizen, "referrals_per_citizen")
        return self


class Block(_Model):
    full_share: Share = Field(ge=0, le=1)
    range: tuple[int, int]


class Intake(_Model):
    block_weeks: dict[str, Block]
    before_block: dict[str, dict[str, Share]]
    employed_before_block: Share
    employed_hours: Range
    side_job_hours: Range
    partial_sick_hours: Range
    side_job_share: dict[str, Share]
    closed_case_before_job_clarification: Share
    closed_case_weeks: tuple[int, int]


class Employability(_Model):
    age_per_10_years: float
    male: float
    benefit_weeks_52_full: float
    long_term_weeks: int = Field(ge=0, le=52)
    long_term: float
    baseline_any: float
    baseline_hours_log: float
    prior_referral: float
    benefit_at_start: dict[str, float]
    offer: dict[str, float]
    purpose: dict[str, float]
    start_quarter: list[float] = Field(min_length=4, max_length=4)


class Driver(_Model):
    slope: float
    intercept: dict[int, float]
    horizon_shift: dict[int, float] | None = None


class JobHours(_Model):
    small: Range
    part: Range
    full: Range


class Logit(_Model):
    intercept: float
    slope: float


class Ends(_Model):
    job_share: Share
    fit_share: Share
    education_share: Share
    dropout_logit: Logit
    sick_share: Share
    moved_share: Share
    other_share: Share


class Attendance(_Model):
    mean: float
    slope: float
    spread: float
    weekly_spread: float
    dropout_factor: float


class Outcomes(_Model):
    paid_hours: Driver
    sustained: Driver
    result: Driver
    fit: Driver
    rehab_grant: Driver
    correlation: list[list[float]]
    full_time_hours: float
    job_hours: JobHours
    full_time_logit: Logit
    part_time_share: Share
    grant_types: dict[int, dict[str, Share]]
    other_decision_share: Share
    late_grant_share: Share
    late_result_share: Share
    second_result_share: Share
    late_job_share: Share
    correction_share: Share
    job_start_month_weights: list[float] = Field(min_length=6, max_length=6)
    keep_side_job_share: Share
    job_month_after_fit_share: Share
    fully_fit_share: Share
    fit_day_beta: tuple[float, float]
    case_ends_late_share: Share
    case_end_late: dict[str, Share]
    case_end_early: dict[str, Share]
    other_decisions: dict[str, Share]
    result_types: dict[int, dict[str, Share]]
    job_result_share: Share
    result_grace_days: int = Field(ge=0)
    ends: Ends
    student_grant_weeks: tuple[int, int]
    attendance: Attendance

    @model_validator(mode="after")
    def _correlation(self) -> Outcomes:
        corr = np.asarray(self.correlation, dtype=float)
        if corr.shape != (len(DRIVERS), len(DRIVERS)) or not np.allclose(corr, corr.T):
            raise ValueError(f"correlation must be a symmetric {len(DRIVERS)}x{len(DRIVERS)} matrix")
        if np.any(np.linalg.eigvalsh(corr) <= 0):
            raise ValueError("correlation must be positive definite")
        if self.sustained.horizon_shift is None or sorted(self.sustained.horizon_shift) != [3, 6, 12]:
            raise ValueError("sustained.horizon_shift needs the horizons 3, 6 and 12")
        shifts = [self.sustained.horizon_shift[h] for h in (3, 6, 12)]
        if shifts != sorted(shifts, reverse=True):
            # nested horizons: who is in work at 12 months was in work at 6 and 3
            raise ValueError("sustained.horizon_shift must not increase with the horizon")
        return self

    def driver(self, name: str) -> Driver:
        return getattr(self, name)


class Variant(_Model):
    """A whole-file dialect variant of one delivery: every variant is valid input."""

    extract: str
    at: float = Field(ge=0, le=1)
    format: Literal["csv", "xlsx"] | None = None
    encoding: Literal["utf-8", "cp1252"] = "utf-8"
    bom: bool = False
    sep: Literal[",", ";"] = ","
    decimal: Literal[".", ","] = "."
    date_format: Literal["iso", "dmy_dash", "dmy_dot"] = "iso"
    week_format: Literal["date", "iso_week"] = "date"
    header: Literal["canonical", "varied"] = "canonical"
    extra_column: str | None = None
    crlf: bool = False
    site: bool = False  # Danish headers and codes of the example site mapping (generate/site.py)

    @model_validator(mode="after")
    def _decimal_vs_sep(self) -> Variant:
        if self.decimal == "," and self.sep == ",":
            raise ValueError(f"{self.extract}: a decimal comma needs the ';' separator")
        return self


class BadDate(_Model):
    """How a planted impossible date is made from the row's real date."""

    month_shift: int = 0
    day_shift: int = 0

    @model_validator(mode="after")
    def _impossible(self) -> BadDate:
        if not (self.month_shift >= 12) ^ (self.day_shift >= 31):
            raise ValueError("a bad date moves either the month by 12 or more or the day by 31 or more")
        return self


class Dirt(_Model):
    kinds: dict[str, list[Literal[DIRT_KINDS]]]  # type: ignore[valid-type]
    unknown_codes: list[str] = Field(min_length=1)
    bad_dates: list[BadDate] = Field(min_length=1)
    variants: list[Variant]
    extra_column_values: list[str] = Field(min_length=1)


class World(_Model):
    scales: dict[str, Scale]
    big_extracts: list[str]
    calendar: Calendar
    tender_areas: dict[int, TenderArea]
    offers: dict[str, Offer]
    providers: dict[str, Provider]
    roles: dict[str, Role]
    provider_updates: list[ProviderUpdate]
    agreements: Agreements
    tender: Tender
    rebooking: Rebooking
    aftercare: Aftercare
    citizens: Citizens
    intake: Intake
    employability: Employability
    outcomes: Outcomes
    dirt: Dirt

    @model_validator(mode="after")
    def _consistent(self) -> World:
        contract = load_contract()
        codes = {name: set(c.codes or []) for name, c in contract.extracts["referrals"].columns.items()}
        offers = set(contract.extracts["agreements"].columns["offer_code"].codes or [])
        benefits = set(contract.codes["benefit"])
        _within(set(self.offers), offers, "offers")
        _within(set(self.big_extracts) | set(self.dirt.kinds), set(contract.extracts), "extracts")
        _within({v.extract for v in self.dirt.variants}, set(contract.extracts), "dirt variants")
        for number, area in self.tender_areas.items():
            _within(set(area.offers), set(self.offers), f"tender area {number} offers")
            _within(set(area.purposes), codes["purpose"], f"tender area {number} purposes")
            _within(set(area.benefit_at_start), benefits, f"tender area {number} benefit_at_start")
            if not any(number in p.areas for p in self.providers.values()):
                raise ValueError(f"tender area {number} has no provider")
        for pid, provider in self.providers.items():
            _within(set(provider.areas), set(self.tender_areas), f"{pid} areas")
        after = self.aftercare
        _within({after.offer}, set(self.offers), "aftercare.offer")
        _within(set(after.areas), set(self.tender_areas), "aftercare.areas")
        _within({after.purpose}, codes["purpose"], "aftercare.purpose")
        _within(set(after.after_reasons), codes["end_reason"], "aftercare.after_reasons")
        results = set(contract.extracts["referral_results"].columns["result_type"].codes or [])
        _within(set(after.result_types), results, "aftercare.result_types")
        if any(after.offer in area.offers for area in self.tender_areas.values()):
            raise ValueError(
                f"the aftercare offer {after.offer} is booked only after a course, not as a tender area offer"
            )
        _within({p.role for p in self.providers.values()}, set(self.roles), "provider roles")
        _within(set(self.employability.benefit_at_start), benefits, "employability.benefit_at_start")
        _within(set(self.employability.offer), set(self.offers), "employability.offer")
        _within(set(self.employability.purpose), codes["purpose"], "employability.purpose")
        _within(
            {u.provider for u in self.provider_updates} | {o.provider for o in self.agreements.offer_added},
            set(self.providers),
            "provider updates",
        )
        grants = {"flex_job", "disability_pension", "resource_course"}
        for area, types in self.outcomes.grant_types.items():
            _within(set(types), grants, f"grant types of area {area}")
        for driver in DRIVERS:
            _within(set(self.outcomes.driver(driver).intercept), set(self.tender_areas), driver)
        vocab = {
            c
            for extract in contract.extracts.values()
            for col in extract.columns.values()
            for c in col.codes or []
        }
        clash = {c.lower() for c in self.dirt.unknown_codes} & vocab
        if clash:
            raise ValueError(f"dirt.unknown_codes {sorted(clash)} are known codes of the contract")
        return self

    @property
    def lead_weeks(self) -> int:
        """How long before a start its simulation writes register rows (the history weeks,
        a benefit block, the closed case before job clarification): a referral starting this
        long after the period still leaves rows in it (Timeline.lead_weeks)."""
        blocks = [block.range[1] for block in self.intake.block_weeks.values()]
        return max(self.calendar.history_weeks, self.intake.closed_case_weeks[1], *blocks)

    def scale(self, name: str) -> Scale:
        if name not in self.scales:
            raise ConfigError(f"unknown scale {name!r}: choose one of {', '.join(self.scales)}")
        return self.scales[name]


def _within(found: set, allowed: set, what: str) -> None:
    unknown = found - allowed
    if unknown:
        raise ValueError(f"{what}: unknown {sorted(map(str, unknown))}")


@cache
def load_world(path: Path = WORLD_FILE) -> World:
    """The world file, validated once per process; a broken file is a ConfigError that says
    which entry is wrong."""
    try:
        with open(path, encoding="utf-8") as fh:
            return World.model_validate(yaml.safe_load(fh))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"the generator's world file {path} is invalid: {exc}") from exc
