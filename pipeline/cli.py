"""The `provmon` command line. It only parses arguments and calls the library: every verb is a
function in its own module that tests call directly."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from pipeline.cpr import ScrubCprFilter, scrub
from pipeline.errors import ProvmonError
from pipeline.settings import Settings

log = logging.getLogger("provmon")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse", help="DuckDB file (default data/warehouse.duckdb or $PROVMON_WAREHOUSE)"
    )
    parser.add_argument("--raw-dir", help="folder of raw deliveries (default data/raw)")
    parser.add_argument("--out-dir", help="folder for reports (default reports)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.resolve(
        warehouse=args.warehouse,
        raw_dir=args.raw_dir,
        out_dir=args.out_dir,
        debug=args.debug,
        config=getattr(args, "config", None),
    )


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="site mapping of column names, codes and files (default provmon.yaml in --raw-dir, "
        "else in the working directory; docs/site-mapping.md)",
    )


def _writable_out_dir(settings: Settings) -> Settings:
    """Refuse an --out-dir that cannot take files before any work is done, instead of failing
    with an OSError (an "internal error") at the end of a long run. Probed by writing a file:
    permission bits alone say nothing on a read-only mount or for root."""
    folder = settings.out_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".provmon-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ProvmonError(
            f"the output folder {folder} cannot be written ({reason}); give a writable --out-dir"
        ) from None
    return settings


def _existing_warehouse(settings: Settings) -> Settings:
    """Verbs that read a built warehouse never create one (an empty file, a stray folder)."""
    if not settings.warehouse.exists():
        raise ProvmonError(
            f"no warehouse at {settings.warehouse}: load and build it first "
            "(provmon ingest, provmon build), or give --warehouse"
        )
    return settings


def cmd_generate(args: argparse.Namespace) -> str:
    from pipeline.generate import generate

    # --raw-dir names the raw folder for every verb, so the next `ingest --raw-dir` finds the data.
    out = Path(args.out) if args.out else _settings(args).raw_dir
    summary = generate(
        scale=args.scale, seed=args.seed, out=out, dirt_rate=args.dirt_rate, dialect=args.dialect
    )
    return str(summary)


def cmd_ingest(args: argparse.Namespace) -> str:
    from pipeline.ingest import ingest

    if args.check_mapping:
        from pipeline.ingest.mapping_check import check_mapping

        settings = _settings(args)
        return str(check_mapping(settings.raw_dir, settings.config))
    return str(ingest(_settings(args)))


def cmd_build(args: argparse.Namespace) -> str:
    from pipeline.build import build

    return str(build(_settings(args), as_of=args.as_of, full_refresh=args.full_refresh))


def cmd_validate(args: argparse.Namespace) -> str:
    from pipeline.quality import validate, validate_marts

    _writable_out_dir(_settings(args))
    if args.marts:
        return str(validate_marts(_settings(args)))
    return str(validate(_settings(args), reference_date=args.reference_date))


def cmd_decide(args: argparse.Namespace) -> str:
    if args.action == "override":
        return _override(args)
    from pipeline.decisions.service import decide

    return str(decide(_existing_warehouse(_settings(args)), month=args.month, model=args.model))


def _override(args: argparse.Namespace) -> str:
    from pipeline.decisions.service import record_override

    missing = [f"--{n}" for n in ("month", "provider", "area", "state", "reason") if getattr(args, n) is None]
    if missing:
        raise ProvmonError(f"decide override needs {', '.join(missing)}")
    return record_override(
        _existing_warehouse(_settings(args)),
        month=args.month,
        provider_id=args.provider,
        tender_area=args.area,
        state=args.state,
        reason=args.reason,
        decided_by=args.by,
        model=args.override_model,
        action_plan_received=args.action_plan_received,
    )


def cmd_backtest(args: argparse.Namespace) -> str:
    from pipeline.decisions.service import run_backtest

    return str(
        run_backtest(
            _writable_out_dir(_existing_warehouse(_settings(args))),
            from_month=args.from_month,
            to_month=args.to_month,
            ground_truth=args.ground_truth,
        )
    )


def cmd_simulate(args: argparse.Namespace) -> str:
    from pipeline.simulate import simulate

    return str(
        simulate(
            scale=args.scale,
            seeds=args.seeds,
            months=args.months,
            policy_names=args.policy,
            rules_file=args.rules,
            out=Path(args.out),
            jobs=args.jobs,
        )
    )


def cmd_report(args: argparse.Namespace) -> str:
    from pipeline.reports.report import report_verb

    settings = _settings(args) if args.year is not None else _writable_out_dir(_settings(args))
    return str(report_verb(settings, month=args.month, year=args.year, name_providers=args.name_providers))


def cmd_run(args: argparse.Namespace) -> str:
    from pipeline.run import run

    settings = _writable_out_dir(_settings(args))
    return str(run(settings, as_of=args.as_of, month=args.month, reference_date=args.reference_date))


def cmd_demo(args: argparse.Namespace) -> str:
    from pipeline.run import demo

    return str(demo(root=Path(args.dir), scale=args.scale, seed=args.seed))


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date of the form YYYY-MM-DD") from None


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number from 0 up")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a share from 0 to 1 (e.g. 0.005)")
    return value


def _month(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a month of the form YYYY-MM") from None


def _as_of_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of", type=_date, help="YYYY-MM-DD (default: end of the month before the newest referrals)"
    )


def _reference_date_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference-date", type=_date, help="judge freshness as of this date (default today)"
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (like every other error) with exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    try:
        return f"provmon {metadata.version('provmon')}"
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "provmon (version unknown: not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="provmon",
        description="Provider-results monitor (leverandøropfølgning): ingest register extracts, "
        "build result measures and propose booking states.",
    )
    parser.add_argument("--version", action="version", version=_version())
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("generate", help="write synthetic raw extracts with a ground-truth file")
    p.add_argument("--scale", choices=["small", "city", "national"], default="small")
    p.add_argument("--seed", type=_seed, default=1, help="whole number from 0 up (default 1)")
    p.add_argument("--out", help="output folder (default --raw-dir, else data/raw)")
    p.add_argument(
        "--dirt-rate", type=_share, default=None, help="share of planted bad rows, 0-1 (default per scale)"
    )
    p.add_argument(
        "--dialect",
        choices=["contract", "site"],
        default="contract",
        help="contract: the contract's own names (a few deliveries as a site writes them); "
        "site: every delivery with the Danish headers, codes and file names of the example site mapping",
    )
    _common(p)
    p.set_defaults(func=cmd_generate)

    p = verbs.add_parser("ingest", help="load new deliveries, pseudonymise, quarantine bad rows")
    _config_option(p)
    p.add_argument(
        "--check-mapping",
        action="store_true",
        help="report what the site mapping makes of the newest delivery of each extract; load nothing",
    )
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = verbs.add_parser("build", help="dbt build of every measure as known on the as-of date")
    _as_of_option(p)
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help=(
            "recompute everything: the risk adjustment, expected probabilities and CUSUM thresholds "
            "of unchanged months too, the dbt project's own tests (unit tests, follows_from_sql) "
            "even when they passed on the same code, and the row tests of every landing row, "
            "not only of the loads since the last build"
        ),
    )
    _common(p)
    p.set_defaults(func=cmd_build)

    p = verbs.add_parser("validate", help="run the Great Expectations suites on the landing tables")
    _reference_date_option(p)
    p.add_argument("--marts", action="store_true", help="check the built marts instead of the landing tables")
    _common(p)
    p.set_defaults(func=cmd_validate)

    p = verbs.add_parser("decide", help="booking states and allocation for a month (or record an override)")
    p.add_argument("action", nargs="?", choices=["override"], help="'override' records a person's decision")
    p.add_argument("--month", type=_month, help="YYYY-MM (default: the month of the latest build)")
    p.add_argument(
        "--model", choices=["soft", "hard"], default="soft", help="the model shown (both are stored)"
    )
    p.add_argument("--provider", help="override: provider id, e.g. P03")
    p.add_argument("--area", type=int, choices=[1, 2, 3, 4], help="override: tender area")
    p.add_argument("--state", help="override: the decided state (GREEN, YELLOW, ORANGE, RED, OPEN, STOP)")
    p.add_argument("--reason", help="override: why the meeting decided so")
    p.add_argument("--by", help="override: who decided (default: your user name)")
    p.add_argument(
        "--override-model",
        choices=["soft", "hard"],
        default=None,
        help="override: model (default: from the state)",
    )
    p.add_argument(
        "--action-plan-received",
        metavar="YYYY-MM-DD",
        help="override: the day the written action plan (handlingsplan) was received (YELLOW)",
    )
    _common(p)
    p.set_defaults(func=cmd_decide)

    p = verbs.add_parser("backtest", help="replay both decision models month by month")
    p.add_argument("--from", dest="from_month", type=_month, help="first month YYYY-MM (default: the first)")
    p.add_argument(
        "--to", dest="to_month", type=_month, help="last month YYYY-MM (default: the last complete)"
    )
    p.add_argument(
        "--ground-truth", type=Path, help="ground-truth file of synthetic data (default: in --raw-dir)"
    )
    _common(p)
    p.set_defaults(func=cmd_backtest)

    p = verbs.add_parser(
        "simulate", help="closed-loop simulation of the booking policies on synthetic worlds"
    )
    p.add_argument("--scale", choices=["small", "city"], default="small")
    p.add_argument("--seeds", type=int, default=3, help="worlds of seeds 1..N (default 3)")
    p.add_argument("--months", type=int, help="simulate only the first M months of the period")
    p.add_argument(
        "--policy",
        nargs="+",
        choices=["none", "hard", "soft", "soft-no-ew"],
        help="policies (default all four)",
    )
    p.add_argument("--rules", type=Path, help="a candidate rule file, run as one more policy (model B)")
    p.add_argument("--out", default="out/simulate", help="output folder (default out/simulate)")
    p.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worlds simulated at a time, each in its own process (default: 2, or 1 on one core)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.set_defaults(func=cmd_simulate)

    p = verbs.add_parser("report", help="execute the notebooks: HTML reports, dashboards and Excel")
    p.add_argument("--month", type=_month, help="YYYY-MM (default: the month of the latest build)")
    p.add_argument("--name-providers", action="store_true", help="name the other providers in dashboards")
    p.add_argument(
        "--year", help="YYYY: the annual experience report (erfaringsopsamling) of that year instead"
    )
    _common(p)
    p.set_defaults(func=cmd_report)

    p = verbs.add_parser("run", help="ingest → validate → build → decide → report for the latest month")
    _as_of_option(p)
    p.add_argument("--month", type=_month, help="month to decide and report (default: the build's month)")
    _reference_date_option(p)
    _config_option(p)
    _common(p)
    p.set_defaults(func=cmd_run)

    p = verbs.add_parser("demo", help="generate city-scale synthetic data into demo/ and run on it")
    p.add_argument("--dir", default="demo", help="demo folder, made anew (default demo)")
    p.add_argument("--scale", choices=["small", "city", "national"], default="city")
    p.add_argument("--seed", type=_seed, default=1, help="whole number from 0 up (default 1)")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.set_defaults(func=cmd_demo)
    return parser


def _configure_logging(debug: bool) -> None:
    # Our own progress at INFO; libraries (Great Expectations, papermill …) only when they warn.
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
    for name in ("pipeline", "provmon"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.addFilter(ScrubCprFilter())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.debug)
    func: Callable[[argparse.Namespace], str] = args.func
    try:
        summary = func(args)
    except ProvmonError as exc:
        if args.debug:
            log.exception("provmon %s failed", args.verb)
        print(scrub(f"provmon {args.verb}: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"provmon {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user error: keep the message short unless --debug
        if args.debug:
            raise
        message = f"provmon {args.verb}: internal error: {type(exc).__name__}: {exc}"
        print(scrub(message) + " (run again with --debug for details)", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
