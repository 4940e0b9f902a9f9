"""`python -m pipeline.quality write-suites`: regenerate expectations/ from the contract and
quality.yaml (then review the diff and commit it)."""

from __future__ import annotations

import argparse
import sys

from pipeline.quality.gx_context import EXPECTATIONS_DIR, write_suites


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.quality", description=__doc__)
    parser.add_argument("command", choices=["write-suites"])
    parser.parse_args(argv)
    changed = write_suites(EXPECTATIONS_DIR)
    for path in changed:
        print(f"  {path.relative_to(EXPECTATIONS_DIR.parent)}")
    print(f"write-suites: {len(changed)} files changed in {EXPECTATIONS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
