"""Which of the dbt project's own tests a build runs.

Most of a build's tests check the month's data (keys, accepted values, relationships) and run in
every build. Two kinds check the project's SQL instead, and give the same answer on any data:

- dbt's unit tests (`unit_tests:` beside the models): fixed rows in, fixed rows out;
- data tests tagged `follows_from_sql`: a property the SQL guarantees once the tests upstream of
  it pass, such as the key of a join of two keyed tables (the risk base view's key follows from
  the keys of the measures and the month spine, both tested in every build).

A build runs them when the project may have changed since the published build: the first
build, `--full-refresh`, or a changed project digest (every file of the dbt project, the dbt
and DuckDB versions, and the dbt vars the build was given other than as_of and the previous
build's schema). Otherwise they passed on the same project before and cannot fail now, so the
monthly build skips them (issue 19: about 40 s of a national build)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The tag of a data test whose result follows from the SQL and the tests upstream of it.
SQL_TAG = "follows_from_sql"
# The files of the dbt project that decide what its SQL does (not its README or dbt's output).
PROJECT_SUFFIXES = (".sql", ".py", ".yml", ".yaml", ".csv", ".jinja")
OUTPUT_DIRS = ("target", "logs", "dbt_packages")
# The libraries that compile and run the SQL.
LIBRARIES = ("dbt-core", "dbt-duckdb", "duckdb")
# The vars that change every build without changing what the SQL does on fixed rows: the unit
# tests that read as_of set it themselves.
PER_BUILD_VARS = ("as_of", "previous_build_schema")


def project_files(project_dir: Path) -> list[Path]:
    """The project's source files, in a stable order."""
    return sorted(
        path
        for path in project_dir.rglob("*")
        if path.is_file() and path.suffix in PROJECT_SUFFIXES and not is_output(path.relative_to(project_dir))
    )


def is_output(relative: Path) -> bool:
    """dbt's output folders and hidden files (a lock, an editor's swap file)."""
    return any(part in OUTPUT_DIRS or part.startswith(".") for part in relative.parts)


def project_digest(project_dir: Path, variables: Mapping[str, Any] | None = None) -> str:
    """A digest of what the project's own tests test: its files (by path and content), the
    library versions and the build's vars but the per-build ones."""
    digest = hashlib.sha256()
    for path in project_files(project_dir):
        digest.update(path.relative_to(project_dir).as_posix().encode("utf-8"))
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    versions = {name: importlib.metadata.version(name) for name in LIBRARIES}
    given = {name: value for name, value in (variables or {}).items() if name not in PER_BUILD_VARS}
    digest.update(json.dumps([versions, given], sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()[:16]


def skip_args() -> list[str]:
    """dbt arguments that leave the project's own tests out of a build."""
    return ["--exclude-resource-type", "unit_test", "--exclude", f"tag:{SQL_TAG}"]


def is_project_test(resource_type: str, tags: list[str]) -> bool:
    """A unit test, or a data test tagged SQL_TAG."""
    return resource_type == "unit_test" or (resource_type == "test" and SQL_TAG in tags)
