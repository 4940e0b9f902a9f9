"""The ground-truth file beside the synthetic extracts (settings.GROUND_TRUTH_FILE).

The pipeline never reads it. Tests and the back-test do: it says which provider was planted as
worse, better, hard intake or dropping (and from when), how large each true effect is on each
measure of metrics.md, how hard each provider's intake really was, and how many bad rows of
each kind every delivery file holds, so ingestion's quarantine can be checked row for row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from pipeline.generate.chains import LinkTally
from pipeline.generate.config import DRIVERS, Scale, World
from pipeline.generate.dirt import BREAKING
from pipeline.generate.market import Market, drop_month_text
from pipeline.generate.timeline import Timeline, date_of, first_day, month_text
from pipeline.generate.writers import FileReport

# Each measure of metrics.md and the outcome driver that produces it.
MEASURE_DRIVER = {
    "any_paid_hours_6m": "paid_hours",
    "progressed": "paid_hours",
    "sustained_3m": "sustained",
    "sustained_6m": "sustained",
    "sustained_12m": "sustained",
    "self_supporting_3m": "sustained",
    "self_supporting_6m": "sustained",
    "self_supporting_12m": "sustained",
    "has_result": "result",
    "fit_within_6m": "fit",
    "fully_fit_within_6m": "fit",
    "rehab_grant_within_12m": "rehab_grant",
}
# Measures whose true effect is an exact log-odds shift given the case-mix covariates (the
# others follow their driver approximately).
EXACT = [
    "any_paid_hours_6m",
    "sustained_3m",
    "sustained_6m",
    "sustained_12m",
    "has_result",
    "fit_within_6m",
    "rehab_grant_within_12m",
]


@dataclass
class IntakeTally:
    """Per provider: referrals and the sum of their employability scores, over all chunks."""

    n: Counter = field(default_factory=Counter)
    score: Counter = field(default_factory=Counter)
    area_n: Counter = field(default_factory=Counter)
    area_score: Counter = field(default_factory=Counter)

    def add(self, provider: np.ndarray, area: np.ndarray, score: np.ndarray) -> None:
        for p in np.unique(provider):
            sel = provider == p
            self.n[int(p)] += int(sel.sum())
            self.score[int(p)] += float(score[sel].sum())
        for a in np.unique(area):
            sel = area == a
            self.area_n[int(a)] += int(sel.sum())
            self.area_score[int(a)] += float(score[sel].sum())


def ground_truth(
    world: World,
    scale_name: str,
    scale: Scale,
    seed: int,
    dirt_rate: float,
    timeline: Timeline,
    market: Market,
    intake: IntakeTally,
    files: list[FileReport],
    links: LinkTally | None = None,
    lead_citizens: int = 0,
) -> dict:
    planted_total: Counter = Counter()
    for f in files:
        planted_total.update(f.planted)
    return {
        "about": "Ground truth of synthetic provmon data. The pipeline never reads this file.",
        "scale": scale_name,
        "seed": seed,
        "dirt_rate": dirt_rate,
        "first_month": month_text(timeline.first_month),
        "last_month": month_text(timeline.first_month + timeline.n_months - 1),
        "as_of": date_of(timeline.end_day).isoformat(),
        "referrals": sum(intake.n.values()),
        "effects_are": "log-odds shifts of the measure given the case-mix covariates of metrics.md",
        "measure_driver": MEASURE_DRIVER,
        "exact_measures": EXACT,
        "providers": _providers(world, market, intake),
        "tender_areas": {
            str(a): {
                "name": cfg.name,
                "referrals": intake.area_n[a],
                "mean_score": _mean(intake.area_score[a], intake.area_n[a]),
            }
            for a, cfg in world.tender_areas.items()
        },
        "tender": _tender(world, market),
        "chains": _chains(links or LinkTally()),
        "lead": {
            "about": (
                "citizens first referred in the lead weeks after the period: the registers "
                "deliver their history before the referral, the referral itself is not delivered"
            ),
            "weeks": timeline.lead_weeks,
            "citizens_in_registers": lead_citizens,
        },
        "dirt_kinds_breaking_contract": list(BREAKING),
        "planted_total": dict(sorted(planted_total.items())),
        "files": {f.path: _file(f) for f in files},
    }


def _tender(world: World, market: Market) -> dict:
    """The tender change: its date, who left and who entered, and each agreement's period."""
    change = first_day(np.array([market.change_month]))[0]
    return {
        "change_date": date_of(int(change)).isoformat(),
        "leaving": [pid for pid, p in world.providers.items() if p.period == "old"],
        "entering": [pid for pid, p in world.providers.items() if p.period == "new"],
        "new_period_agreements": sorted(a.agreement_id for a in market.agreements if a.valid_from >= change),
    }


def _chains(links: LinkTally) -> dict:
    """The planted course chains (rebookings: course id = its first referral -> the links in
    order), the links delivered with previous_referral_id, and the aftercare referrals."""
    return {
        "courses": dict(sorted(links.chains.items())),
        "named_links": sorted(links.named),
        "aftercare": sorted(links.aftercare),
    }


def _mean(total: float, n: int) -> float | None:
    return round(total / n, 4) if n else None


def _providers(world: World, market: Market, intake: IntakeTally) -> dict:
    out = {}
    for p, pid in enumerate(market.provider_ids):
        cfg = world.providers[pid]
        drop = drop_month_text(market, p)
        out[pid] = {
            "name": cfg.name,
            "areas": cfg.areas,
            "role": cfg.role,
            "period": cfg.period,
            "effects": _measure_effects(market.effects[p, :, 0]),
            "drop_month": drop,
            "effects_from_drop_month": _measure_effects(market.effects[p, :, 1]) if drop else None,
            "intake_tilt": cfg.intake_tilt,
            "referrals": intake.n[p],
            "mean_score": _mean(intake.score[p], intake.n[p]),
        }
    return out


def _measure_effects(by_driver: np.ndarray) -> dict[str, float]:
    effects = dict(zip(DRIVERS, by_driver.tolist(), strict=True))
    return {measure: effects[driver] for measure, driver in MEASURE_DRIVER.items()}


def _file(f: FileReport) -> dict:
    planted = dict(sorted(f.planted.items()))
    return {
        "extract": f.extract,
        "delivery_date": f.delivery_date,
        "format": f.dialect.format,
        "rows": f.rows,
        "dialect": f.dialect.describe(),
        "planted": planted,
        "rows_breaking_contract": sum(n for kind, n in planted.items() if kind in BREAKING),
    }
