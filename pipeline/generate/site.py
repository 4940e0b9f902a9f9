"""The generator's "site" dialect: deliveries as an administration's own systems write them,
with Danish headers, Danish code values and the source systems' file names, taken from the
shipped example site mapping (pipeline/contract/site-mapping.example.yaml).

The generator writes that mapping into its output folder as provmon.yaml, so `provmon ingest`
of the output finds it and loads the Danish deliveries to the same landing rows as the
contract's own dialect: the example is exercised by every generated data set."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipeline.contract import load_contract
from pipeline.errors import ProvmonError
from pipeline.ingest.mapping import EXAMPLE_FILE, ExtractRules, load_mapping, normal_value

Translation = tuple[tuple[str, str], ...]  # (contract code, site value)


@dataclass(frozen=True)
class SiteTexts:
    """What the site writes instead of the contract's names: per extract its headers (in
    contract column order), code values per code column and its file-name pattern."""

    path: Path
    extracts: dict[str, ExtractRules]

    def headers(self, extract: str) -> tuple[tuple[str, str], ...]:
        rules = self.extracts[extract]
        return tuple((c, rules.headers[c]) for c in load_contract().extracts[extract].columns)

    def codes(self, extract: str) -> tuple[tuple[str, Translation], ...]:
        texts = self.extracts[extract].code_texts
        return tuple((column, tuple(sorted(values.items()))) for column, values in sorted(texts.items()))

    def file_name(self, extract: str, day: dt.date, ext: str) -> str | None:
        """The delivery's name as its source system gives it (the mapping's first file
        pattern, `*` standing for the extension), or None when the extract has none."""
        files = self.extracts[extract].files
        if not files:
            return None
        name = (
            files[0].replace("{YYYY}", f"{day:%Y}").replace("{MM}", f"{day:%m}").replace("{DD}", f"{day:%d}")
        )
        return name.replace(".*", f".{ext}").replace("*", "")


@cache
def site_texts(path: Path = EXAMPLE_FILE, unknown_codes: tuple[str, ...] = ()) -> SiteTexts:
    """The example mapping as the generator's site dialect. It must name every contract column
    and code, and must not map a value the generator plants as an unknown code."""
    mapping = load_mapping(path)
    contract = load_contract()
    problems = []
    for name, spec in contract.extracts.items():
        rules = mapping.extracts.get(name)
        for column in spec.columns.values():
            if rules is None or column.name not in rules.headers:
                problems.append(f"no header for {name}.{column.name}")
            elif column.type == "code":
                texts = rules.code_texts.get(column.name, {})
                problems += [
                    f"no value for {name}.{column.name} code {c}"
                    for c in column.codes or []
                    if c not in texts
                ]
        planted = {normal_value(u) for u in unknown_codes}
        for column, codes in (rules.codes if rules else {}).items():
            problems += [
                f"{name}.{column} maps the planted unknown code '{v}'" for v in codes if v in planted
            ]
    if problems:
        raise ProvmonError(f"the site mapping {path} cannot serve the site dialect: {'; '.join(problems)}")
    return SiteTexts(path, mapping.extracts)
