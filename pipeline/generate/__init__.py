"""`provmon generate`: synthetic register extracts in the input contract, with planted truth.

The generator makes a world the pipeline can be tested against: providers whose true effects
are known (worse, better, a hard intake that is only a case-mix effect, a drop in performance
from a given month), citizens with register histories that carry that case mix through the
observable covariates only, monthly deliveries exactly as the municipality's systems send them
(late end dates, corrections, dialects) and a known number of bad rows per file. The world is
described in world.yaml; this module runs it chunk by chunk of citizens so that national scale
fits in bounded memory.

    from pipeline.generate import generate
    summary = generate("small", seed=1, out=Path("data/raw"))
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.contract import load_contract
from pipeline.errors import ProvmonError
from pipeline.generate.chains import LinkTally, with_links
from pipeline.generate.config import Scale, World, load_world
from pipeline.generate.dirt import DirtSpec, plant
from pipeline.generate.extracts import IdCounters, Vocabs, chunk_rows, lead_citizens
from pipeline.generate.market import Market, agreement_rows, build_market, provider_rows
from pipeline.generate.rows import Rows
from pipeline.generate.simulate import simulated_chunks
from pipeline.generate.site import site_texts
from pipeline.generate.timeline import Timeline, month_number
from pipeline.generate.truth import IntakeTally, ground_truth
from pipeline.generate.writers import ExtractWriter, FileReport, Formatter, plan_dialects
from pipeline.ingest.marker import write_marker
from pipeline.settings import GROUND_TRUTH_FILE, SITE_MAPPING_FILE, SYNTHETIC_MARKER

__all__ = ["DIALECTS", "GenerateError", "GenerateSummary", "generate"]

log = logging.getLogger(__name__)
MAX_DIRT_RATE = 0.2
# contract: the contract's own dialects (some deliveries in the site's when planting dirt);
# site: every delivery as a site's systems write it (Danish headers, codes and file names)
DIALECTS = ("contract", "site")
_DELIVERY_FILE = re.compile(r"^[a-z_]+_\d{8}\.(csv|xlsx|parquet)$")


class GenerateError(ProvmonError):
    """The generator was asked for something it cannot do (bad scale, rate or output folder)."""


@dataclass(frozen=True)
class GenerateSummary:
    out: Path
    scale: str
    seed: int
    files: int
    rows: dict[str, int]
    planted: int
    seconds: float
    dirt_rate: float = 0.0

    def __str__(self) -> str:
        rows = ", ".join(f"{name} {n:,}" for name, n in self.rows.items())
        return (
            f"generated {self.scale} data (seed {self.seed}) in {self.out}: {self.files} files; "
            f"rows: {rows}; {self.planted:,} planted bad rows (dirt rate {self.dirt_rate:g}); "
            f"{self.seconds:.1f} s"
        )


def generate(
    scale: str,
    seed: int,
    out: Path,
    dirt_rate: float | None = None,
    dialect: str = "contract",
    booked: Mapping[int, np.ndarray] | None = None,
    chains: bool = True,
) -> GenerateSummary:
    """Write every extract's monthly deliveries, the synthetic-data marker and the ground
    truth into `out`, and the site mapping (provmon.yaml) when a delivery is in the site's
    dialect. The same scale, seed, dirt rate and dialect give byte-identical CSV files.

    `booked` (per chunk, the provider index of each of its referrals, -1: drawn as usual) and
    chains=False (no rebooking chains or aftercare referrals) write a history of
    `provmon simulate` with the same writers (pipeline/simulate/extracts.py)."""
    started = time.perf_counter()
    world = load_world()
    cfg = world.scale(scale)
    rate = cfg.dirt_rate if dirt_rate is None else float(dirt_rate)
    if not 0 <= rate <= MAX_DIRT_RATE:
        raise GenerateError(
            f"--dirt-rate must be between 0 and {MAX_DIRT_RATE} (a share of rows), not {rate}"
        )
    if dialect not in DIALECTS:
        raise GenerateError(f"--dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}")
    out = Path(out)
    _prepare(out)
    timeline = Timeline(
        month_number(cfg.first_month),
        cfg.months,
        world.calendar.delivery_day,
        world.calendar.history_weeks,
        world.calendar.follow_months,
        world.lead_weeks,
    )
    market = build_market(world, cfg, timeline, np.random.default_rng([seed, 0]))
    run = _Run(world, cfg, timeline, market, out, seed, rate, site_all=dialect == "site")
    run.write(provider_rows(world, market, timeline), force_dirt=False)
    run.write(agreement_rows(market), force_dirt=False)
    n_chunks_max = max(1, math.ceil(cfg.referrals / cfg.persons_per_chunk))
    with tqdm(
        total=cfg.referrals,
        unit=" referrals",
        desc=f"generate {scale}",
        disable=n_chunks_max < 3,
        leave=False,
    ) as progress:
        for chunk, cohort, result in simulated_chunks(world, cfg, timeline, market, seed, booked):
            if chains:
                result = with_links(world, market, result, np.random.default_rng([seed, 5, chunk]))
            run.intake.add(result.referrals["provider"], result.referrals["area"], result.referrals["score"])
            batches = chunk_rows(timeline, cohort, result, run.ids, run.vocabs, run.links if chains else None)
            run.lead_citizens += lead_citizens(cohort, batches)
            for rows in batches:
                run.write(rows, force_dirt=chunk == 0)
            progress.update(len(cohort.person))
            log.debug("generate: chunk %d done, %d referrals", chunk + 1, progress.n)
    files = run.close()
    if any(f.dialect.site for f in files):  # so that ingestion reads them with no extra step
        shutil.copyfile(run.site.path, out / SITE_MAPPING_FILE)
    write_marker(out, skip=(GROUND_TRUTH_FILE,))
    truth = ground_truth(
        world, scale, cfg, seed, rate, timeline, market, run.intake, files, run.links, run.lead_citizens
    )
    (out / GROUND_TRUTH_FILE).write_text(
        json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    rows_by_extract: Counter = Counter()
    for f in files:
        rows_by_extract[f.extract] += f.rows
    return GenerateSummary(
        out=out,
        scale=scale,
        seed=seed,
        files=len(files),
        rows={name: rows_by_extract[name] for name in load_contract().extracts},
        planted=sum(sum(f.planted.values()) for f in files),
        seconds=time.perf_counter() - started,
        dirt_rate=rate,
    )


class _Run:
    """The writers, dirt and counters of one generate run."""

    def __init__(
        self,
        world: World,
        scale: Scale,
        timeline: Timeline,
        market: Market,
        out: Path,
        seed: int,
        rate: float,
        site_all: bool = False,
    ):
        contract = load_contract()
        self.site = site_texts(unknown_codes=tuple(world.dirt.unknown_codes))
        scale_plan = plan_dialects(
            world, scale, timeline, rate > 0, np.random.default_rng([seed, 3]), self.site, site_all
        )
        formatter = Formatter(timeline, [(f.month_shift, f.day_shift) for f in world.dirt.bad_dates])
        self.writers = {
            name: ExtractWriter(spec, out, timeline, scale_plan, formatter, world.dirt.extra_column_values)
            for name, spec in contract.extracts.items()
        }
        self.timeline = timeline
        self.dirt = DirtSpec(rate, world.dirt.kinds, world.dirt.unknown_codes, len(world.dirt.bad_dates))
        self.rng = np.random.default_rng([seed, 4])
        self.ids = IdCounters()
        self.vocabs = Vocabs.of(world, market)
        self.intake = IntakeTally()
        self.links = LinkTally()
        self.lead_citizens = 0  # citizens in the registers referred only after the period

    def write(self, rows: Rows, force_dirt: bool) -> None:
        """Append a batch to its delivery files, planting dirt; with force_dirt (the first chunk)
        one row of every kind goes into the batch's largest delivery."""
        writer = self.writers[rows.extract]
        parts = rows.by_delivery()
        largest = max(parts, key=lambda p: len(p[1]))[0] if parts else -1
        for delivery, part in parts:
            force = force_dirt and self.dirt.rate > 0 and delivery == largest
            part, planted = plant(part, self.dirt, self.rng, writer.textual(delivery), force)
            writer.append(delivery, part, planted, self.rng)

    def close(self) -> list[FileReport]:
        files: list[FileReport] = []
        monthly = set(load_contract().extracts) - {"providers", "agreements"}
        for name, writer in self.writers.items():
            if name in monthly:
                for delivery in range(self.timeline.n_months):
                    writer.report(delivery)  # every month has a delivery, empty or not
            files += writer.close()
        return files


def _prepare(out: Path) -> None:
    """Refuse to write into a folder of real deliveries; clear an earlier synthetic run."""
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} exists and is not a folder: choose an output folder")
    out.mkdir(parents=True, exist_ok=True)
    contents = [p for p in out.iterdir() if not p.name.startswith(".")]
    if not contents:
        return
    if not (out / SYNTHETIC_MARKER).exists():
        raise GenerateError(
            f"{out} already holds files and is not an earlier synthetic data folder (no {SYNTHETIC_MARKER}): "
            "choose an empty or new folder, so that no real delivery is mixed with synthetic data"
        )
    extracts = set(load_contract().extracts)
    for path in contents:
        if path.is_dir() and path.name in extracts:
            for file in path.iterdir():
                if _DELIVERY_FILE.match(file.name) or _site_named(path.name, file.name):
                    file.unlink()
        elif path.name in (SYNTHETIC_MARKER, GROUND_TRUTH_FILE, SITE_MAPPING_FILE):
            path.unlink()


def _site_named(extract: str, name: str) -> bool:
    """A delivery of an earlier run in the site dialect, named as its source system names it."""
    rules = site_texts().extracts.get(extract)
    return rules is not None and any(p.fullmatch(name) for p in rules.patterns)
