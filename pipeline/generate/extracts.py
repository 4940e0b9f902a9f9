"""A chunk's simulated lives as rows of the nine extracts, each row tagged with the delivery
that carries it.

The rule for every extract: a fact goes into the first delivery made after it happened, and
nothing dated after a delivery's date is in it. A referral appears when it is booked, again
when a correction is made, and again when it ends (that is how a late end date arrives); a
sickness case appears when it opens and again when it closes; register rows (paid hours,
benefit weeks) arrive month by month, the first delivery carrying the history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.generate.chains import LinkTally
from pipeline.generate.config import World
from pipeline.generate.market import Market
from pipeline.generate.population import Cohort
from pipeline.generate.rows import Rows, Vocab, labels
from pipeline.generate.simulate import (
    BEN,
    CASE_ENDS,
    END_REASONS,
    PURPOSES,
    REHAB_OUTCOMES,
    RESULT_TYPES,
    ChunkResult,
    unit_names,
)
from pipeline.generate.timeline import NULL, Timeline, first_day, monday_of, month_of


@dataclass
class IdCounters:
    """Running numbers across chunks, so ids are unique in the whole run."""

    referral: int = 0
    case: int = 0
    decision: int = 0


@dataclass(frozen=True)
class Vocabs:
    """Code vocabularies shared by every chunk (their Arrow forms are made once)."""

    benefit: Vocab
    end_reason: Vocab
    purpose: Vocab
    result_type: Vocab
    case_end: Vocab
    outcome: Vocab
    units: Vocab
    agreements: Vocab

    @classmethod
    def of(cls, world: World, market: Market) -> Vocabs:
        return cls(
            Vocab(BEN),
            Vocab(END_REASONS),
            Vocab(PURPOSES),
            Vocab(RESULT_TYPES),
            Vocab(CASE_ENDS),
            Vocab(REHAB_OUTCOMES),
            Vocab(unit_names(world)),
            market.agreement_vocab,
        )


def delivery_carrying(timeline: Timeline, days: np.ndarray) -> np.ndarray:
    """The first delivery whose date is on or after each day (-1: after the last delivery)."""
    days = np.asarray(days)
    month = month_of(days)
    day_in_month = days - first_day(month) + 1
    index = np.maximum(month - timeline.first_month - (day_in_month <= timeline.delivery_day), 0)
    return np.where(index < timeline.n_months, index, -1)


def chunk_rows(
    timeline: Timeline,
    cohort: Cohort,
    result: ChunkResult,
    ids: IdCounters,
    vocabs: Vocabs,
    links: LinkTally | None = None,
) -> list[Rows]:
    """The chunk's rows of every extract; the chains and aftercare referrals delivered are
    recorded in `links` (for the ground truth)."""
    cpr = Vocab(cohort.cpr)
    ref_label, ref_vocab = referral_ids(cohort, result, ids)
    referrals = referral_rows(timeline, result.referrals, ref_label, ref_vocab, cpr, vocabs)
    if links is not None:
        labels_of = ref_label[result.referrals["ref"]]
        written = np.isin(labels_of, referrals.columns["referral_id"].idx)  # type: ignore[union-attr]
        links.add(result.referrals, ref_vocab.texts[labels_of], written)
    return [
        referrals,
        result_rows(timeline, result.results, ref_label, ref_vocab, vocabs),
        paid_hours_rows(timeline, cohort, result.hours, cpr),
        benefit_rows(timeline, cohort, result.benefit, cpr, vocabs),
        case_rows(timeline, result.cases, ids, cpr, vocabs),
        decision_rows(timeline, result.decisions, ids, cpr, vocabs),
        attendance_rows(timeline, result.attendance, ref_label, ref_vocab),
    ]


def lead_citizens(cohort: Cohort, rows: list[Rows]) -> int:
    """Citizens of the chunk with delivered rows but no referral in the period: those first
    referred in the lead weeks after it (Cohort.lead_person), for the ground truth."""
    referred = np.zeros(cohort.n_persons, dtype=bool)
    referred[cohort.person] = True
    delivered = np.zeros(cohort.n_persons, dtype=bool)
    for r in rows:
        cpr = r.columns.get("cpr")
        if cpr is not None:
            person = cpr.idx[r.delivery >= 0]  # type: ignore[union-attr]
            delivered[person[person >= 0]] = True
    return int((delivered & ~referred).sum())


def referral_ids(cohort: Cohort, result: ChunkResult, ids: IdCounters) -> tuple[np.ndarray, Vocab]:
    """Referral ids numbered in booking order; label of each cohort referral (also the id
    `provmon simulate` gives a referral, to order referrals known on the same day as the
    warehouse does)."""
    ref = result.referrals["ref"]
    order = np.lexsort((ref, result.referrals["booked_on"]))
    label = np.full(int(ref.max()) + 1 if len(ref) else 0, -1, dtype=np.int64)
    label[ref[order]] = np.arange(len(ref))
    vocab = Vocab([f"HEN{n:07d}" for n in range(ids.referral + 1, ids.referral + len(ref) + 1)])
    ids.referral += len(ref)
    return label, vocab


def referral_rows(
    timeline: Timeline,
    f: dict[str, np.ndarray],
    ref_label: np.ndarray,
    ref_vocab: Vocab,
    cpr: Vocab,
    vocabs: Vocabs,
) -> Rows:
    n = len(f["ref"])
    # booked that month; the start is never after the delivery's date (simulate._allocate)
    booked = timeline.delivery_of_day(f["booked_on"])  # -1: booked after the period, not delivered
    # a start after the newest delivery's date (an efterværn booked in the last month) waits for
    # a delivery after the period: nothing is dated after the delivery that carries it
    carrying = delivery_carrying(timeline, f["start_date"])
    d0 = np.where((booked >= 0) & (carrying >= 0), np.maximum(booked, carrying), -1)
    cday = f["correction_day"]
    dc = np.where(
        (cday >= 0) & (cday <= timeline.end_day), delivery_carrying(timeline, np.maximum(cday, 0)), -1
    )
    de = np.where(f["end_date"] <= timeline.end_day, delivery_carrying(timeline, f["end_date"]), -1)
    row = np.concatenate([np.arange(n)] * 3)
    when = np.concatenate([d0, np.where(dc > d0, dc, -1), np.where(de > d0, de, -1)])
    keep = when >= 0
    row, when = row[keep], when[keep]
    key = np.unique(row * (timeline.n_months + 1) + when)
    row, when = key // (timeline.n_months + 1), key % (timeline.n_months + 1)
    order = np.lexsort((ref_label[f["ref"][row]], f["booked_on"][row], when))
    row, when = row[order], when[order]
    corrected = (dc[row] >= 0) & (dc[row] <= when)
    ended = (de[row] >= 0) & (de[row] <= when)
    pick = lambda name: np.where(corrected, f[f"{name}_1"][row], f[f"{name}_0"][row])  # noqa: E731
    return Rows(
        "referrals",
        when,
        {
            "referral_id": labels(ref_label[f["ref"][row]], ref_vocab),
            "cpr": labels(f["person"][row], cpr),
            "agreement_id": labels(f["agreement"][row], vocabs.agreements),
            "booked_on": f["booked_on"][row],
            "start_date": f["start_date"][row],
            "planned_end_date": pick("planned_end"),
            "end_date": np.where(ended, f["end_date"][row], NULL),
            "end_reason": labels(np.where(ended, f["end_reason"][row], -1), vocabs.end_reason),
            "purpose": labels(f["purpose"][row], vocabs.purpose),
            "benefit_at_start": labels(f["benefit_at_start"][row], vocabs.benefit),
            "hours_min": pick("hours_min"),
            "hours_max": pick("hours_max"),
            "jobcenter_unit": labels(f["unit"][row], vocabs.units),
            "previous_referral_id": labels(_previous_label(f, row, ref_label), ref_vocab),
        },
    )


def _previous_label(f: dict[str, np.ndarray], row: np.ndarray, ref_label: np.ndarray) -> np.ndarray:
    """The id of the referral a continuation names (previous_referral_id), where its delivery
    names it; empty (-1) otherwise."""
    previous = f.get("previous")
    if previous is None:
        return np.full(len(row), -1, dtype=np.int64)
    named = f["named"][row] & (previous[row] >= 0)
    return np.where(named, ref_label[np.maximum(previous[row], 0)], -1)


def result_rows(
    timeline: Timeline, r: dict[str, np.ndarray], ref_label: np.ndarray, ref_vocab: Vocab, vocabs: Vocabs
) -> Rows:
    order = np.lexsort((r["type"], ref_label[r["ref"]], r["date"]))
    return Rows(
        "referral_results",
        _known(timeline, r["date"][order]),
        {
            "referral_id": labels(ref_label[r["ref"][order]], ref_vocab),
            "result_date": r["date"][order],
            "result_type": labels(r["type"][order], vocabs.result_type),
        },
    )


def _known(timeline: Timeline, days: np.ndarray) -> np.ndarray:
    """Delivery of facts dated `days`; -1 for those after the period."""
    return np.where(days <= timeline.end_day, timeline.delivery_of_day(days), -1)


def _numbered(
    events: dict[str, np.ndarray], date: str, prefix: str, ids: IdCounters, counter: str
) -> tuple[dict[str, np.ndarray], Vocab]:
    """Events in date order with running ids (case and decision numbers across chunks)."""
    order = np.argsort(events[date], kind="stable")
    first = getattr(ids, counter) + 1
    setattr(ids, counter, first - 1 + len(order))
    return {k: v[order] for k, v in events.items()}, Vocab(
        [f"{prefix}{i:07d}" for i in range(first, first + len(order))]
    )


def case_rows(
    timeline: Timeline, c: dict[str, np.ndarray], ids: IdCounters, cpr: Vocab, vocabs: Vocabs
) -> Rows:
    c, vocab = _numbered(c, "first_sick_day", "SDP", ids, "case")
    n = len(vocab)
    opened = _known(timeline, c["first_sick_day"])
    closed = _known(timeline, c["case_end"])
    row = np.concatenate([np.arange(n), np.flatnonzero((closed >= 0) & (closed != opened))])
    when = np.concatenate([opened, closed[closed >= 0][(closed[closed >= 0] != opened[closed >= 0])]])
    order = np.lexsort((row, when))
    row, when = row[order], when[order]
    ended = (closed[row] >= 0) & (closed[row] <= when)
    return Rows(
        "sickness_cases",
        when,
        {
            "case_id": labels(row, vocab),
            "cpr": labels(c["person"][row], cpr),
            "first_sick_day": c["first_sick_day"][row],
            "case_end_date": np.where(ended, c["case_end"][row], NULL),
            "end_reason": labels(np.where(ended, c["reason"][row], -1), vocabs.case_end),
        },
    )


def decision_rows(
    timeline: Timeline, d: dict[str, np.ndarray], ids: IdCounters, cpr: Vocab, vocabs: Vocabs
) -> Rows:
    d, vocab = _numbered(d, "decision_date", "RHT", ids, "decision")
    return Rows(
        "rehab_decisions",
        _known(timeline, d["decision_date"]),
        {
            "decision_id": labels(np.arange(len(vocab)), vocab),
            "cpr": labels(d["person"], cpr),
            "meeting_date": d["meeting_date"],
            "decision_date": d["decision_date"],
            "outcome": labels(d["outcome"], vocabs.outcome),
        },
    )


def attendance_rows(
    timeline: Timeline, a: dict[str, np.ndarray], ref_label: np.ndarray, ref_vocab: Vocab
) -> Rows:
    """Reported in the month the week ends."""
    return Rows(
        "attendance",
        _known(timeline, a["week_start"] + 6),
        {
            "referral_id": labels(ref_label[a["ref"]], ref_vocab),
            "week_start": a["week_start"],
            "planned_hours": a["planned"],
            "attended_hours": a["attended"],
        },
    )


def _coverage(timeline: Timeline, cohort: Cohort) -> tuple[np.ndarray, np.ndarray]:
    """Per person the first and last day with register rows: from history_weeks before the
    first start to follow_months after the last start, the lead referrals' starts after the
    period included (Cohort.lead_start)."""
    person = np.concatenate([cohort.person, cohort.lead_person])
    start = np.concatenate([cohort.start, cohort.lead_start])
    first = np.full(cohort.n_persons, np.iinfo(np.int64).max)
    last = np.full(cohort.n_persons, np.iinfo(np.int64).min)
    np.minimum.at(first, person, start)
    np.maximum.at(last, person, start)
    lo = monday_of(first) - 7 * timeline.history_weeks
    hi = np.minimum(first_day(month_of(last) + timeline.follow_months + 1) - 1, timeline.end_day)
    return lo, hi


def _cells(register: np.ndarray, axis: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
    """(person, column) of the non-zero register cells whose axis value lies in [lo, hi]."""
    covered = (axis[None, :] >= lo[:, None]) & (axis[None, :] <= hi[:, None])
    return np.nonzero((register > 0) & covered)


def paid_hours_rows(timeline: Timeline, cohort: Cohort, hours: np.ndarray, cpr: Vocab) -> Rows:
    lo, hi = _coverage(timeline, cohort)
    months = timeline.month0 + np.arange(hours.shape[1])
    person, col = _cells(hours, months, month_of(lo), month_of(hi))
    return Rows(
        "paid_hours",
        timeline.delivery_of_month(months[col]),
        {
            "cpr": labels(person, cpr),
            "month": months[col],
            "hours": hours[person, col].astype(np.float64).round(1),
        },
    )


def benefit_rows(timeline: Timeline, cohort: Cohort, benefit: np.ndarray, cpr: Vocab, vocabs: Vocabs) -> Rows:
    lo, hi = _coverage(timeline, cohort)
    mondays = timeline.week0 + 7 * np.arange(benefit.shape[1])
    person, col = _cells(benefit, mondays, lo, hi)
    return Rows(
        "benefit_weeks",
        timeline.delivery_of_day(mondays[col]),
        {
            "cpr": labels(person, cpr),
            "week_start": mondays[col],
            "benefit": labels(benefit[person, col].astype(np.int64), vocabs.benefit),
        },
    )
