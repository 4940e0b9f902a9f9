"""The `provmon` command line. It only parses arguments and calls the library: every verb is a
function in its own module that tests call directly."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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
        warehouse=args.warehouse, raw_dir=args.raw_dir, out_dir=args.out_dir, debug=args.debug
    )


def cmd_generate(args: argparse.Namespace) -> str:
    from pipeline.generate import generate

    summary = generate(scale=args.scale, seed=args.seed, out=Path(args.out), dirt_rate=args.dirt_rate)
    return str(summary)


def cmd_ingest(args: argparse.Namespace) -> str:
    from pipeline.ingest import ingest

    return str(ingest(_settings(args)))


def cmd_build(args: argparse.Namespace) -> str:
    from pipeline.build import build

    return str(build(_settings(args), as_of=args.as_of))


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date of the form YYYY-MM-DD") from None


def _month(text: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a month of the form YYYY-MM") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provmon",
        description="Provider-results monitor (leverandøropfølgning): ingest register extracts, "
        "build result measures and propose booking states.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("generate", help="write synthetic raw extracts with a ground-truth file")
    p.add_argument("--scale", choices=["small", "city", "national"], default="small")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="data/raw", help="output folder (default data/raw)")
    p.add_argument(
        "--dirt-rate", type=float, default=None, help="share of planted bad rows (default per scale)"
    )
    _common(p)
    p.set_defaults(func=cmd_generate)

    p = verbs.add_parser("ingest", help="load new deliveries, pseudonymise, quarantine bad rows")
    _common(p)
    p.set_defaults(func=cmd_ingest)

    p = verbs.add_parser("build", help="dbt build of every measure as known on the as-of date")
    p.add_argument(
        "--as-of", type=_date, help="YYYY-MM-DD (default: end of the month before the newest referrals)"
    )
    _common(p)
    p.set_defaults(func=cmd_build)
    return parser


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(levelname)s %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
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
