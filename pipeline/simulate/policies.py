"""The booking policies a simulation compares (decisions.md, "Policy simulation")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.decisions.rules import RULES_FILE, Model, Rules, load_rules
from pipeline.errors import ProvmonError
from pipeline.simulate.measures import MEASURE_LABELS

POLICY_NAMES = ("none", "hard", "soft", "soft-no-ew")


@dataclass(frozen=True)
class Policy:
    """name; the model whose shares book (None: every provider its full share); the rule file;
    whether model B reads the early-warning chart."""

    name: str
    model: Model | None
    rules: Rules
    early_warning: bool = True


def policies(names: list[str] | None = None, rules_file: Path | None = None) -> list[Policy]:
    """The named policies in the order given (default all four), then a candidate rule file as
    model B under the file's name."""
    names = list(names or POLICY_NAMES)
    unknown = [n for n in names if n not in POLICY_NAMES]
    if unknown:
        raise ProvmonError(f"--policy must be one of {', '.join(POLICY_NAMES)}, not {', '.join(unknown)}")
    rules = load_rules(RULES_FILE, measure_labels=MEASURE_LABELS)
    made = {
        "none": Policy("none", None, rules),
        "hard": Policy("hard", Model.HARD, rules),
        "soft": Policy("soft", Model.SOFT, rules),
        "soft-no-ew": Policy("soft-no-ew", Model.SOFT, rules, early_warning=False),
    }
    out = [made[n] for n in names]
    if rules_file is not None:
        out.append(
            Policy(
                Path(rules_file).stem, Model.SOFT, load_rules(Path(rules_file), measure_labels=MEASURE_LABELS)
            )
        )
    return out
