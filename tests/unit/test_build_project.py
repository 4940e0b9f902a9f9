"""Static checks of the dbt project (no dbt run): it agrees with the input contract and the
spec's defaults, every model is documented beside it, and the SQL keeps engine-specific syntax
in macros. Plus the pure helpers of pipeline/build.py."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
import yaml

from pipeline.build import PROJECT_DIR, BuildSummary, dbt_args, failure_message, one_line
from pipeline.contract import load_contract
from pipeline.equivalence import GRAIN_TESTS, declared_grain

MODELS = PROJECT_DIR / "models"


def load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def model_ymls() -> list[Path]:
    return sorted(MODELS.rglob("_*.yml"))


def documented_models() -> dict[str, dict]:
    return {m["name"]: m for p in model_ymls() for m in load_yaml(p).get("models", [])}


def test_sources_cover_every_contract_column() -> None:
    """Each extract is a source table and each contract column (a CPR as person_key, birth_date
    and sex) is documented on it, so the sources do not drift from the contract."""
    sources = load_yaml(MODELS / "staging/landing/_landing__sources.yml")["sources"][0]["tables"]
    documented = {t["name"]: {c["name"] for c in t["columns"]} for t in sources}
    contract = load_contract().extracts
    assert set(documented) == set(contract)
    for name, extract in contract.items():
        expected = set()
        for column in extract.columns.values():
            expected |= {"person_key", "birth_date", "sex"} if column.type == "cpr" else {column.name}
        assert expected <= documented[name], f"{name}: undocumented {expected - documented[name]}"


def accepted_values(model: dict) -> dict[str, list]:
    found = {}
    for column in model.get("columns", []):
        for test in column.get("data_tests", []):
            if isinstance(test, dict) and "accepted_values" in test:
                found[column["name"]] = test["accepted_values"]["arguments"]["values"]
    return found


# staging column -> (extract, contract column) where the staging model renames it
RENAMED = {("benefit_weeks", "benefit_code"): "benefit"}


def test_staging_code_lists_equal_the_contract() -> None:
    """The accepted_values tests restate the contract's vocabularies; they must not drift."""
    models = documented_models()
    contract = load_contract().extracts
    checked = 0
    for extract_name, extract in contract.items():
        for column, values in accepted_values(models[f"stg_landing__{extract_name}"]).items():
            source_column = RENAMED.get((extract_name, column), column)
            spec = extract.columns.get(source_column)
            if spec is None or spec.codes is None:
                continue
            assert sorted(values) == sorted(spec.codes), f"{extract_name}.{column}"
            checked += 1
    assert checked == 9  # offer, price model, 3 referral codes, result, benefit, case end, outcome


def model_files() -> list[Path]:
    """Every dbt model of the project: the SQL models and the Python ones."""
    return sorted([*MODELS.rglob("*.sql"), *MODELS.rglob("*.py")])


def declared_model(path: Path) -> dict:
    """The model's entry in the one yml of its folder (asserted to exist)."""
    ymls = list(path.parent.glob("_*__models.yml"))
    assert len(ymls) == 1, f"{path.parent} needs exactly one _<folder>__models.yml"
    models = {m["name"]: m for m in load_yaml(ymls[0])["models"]}
    model = models.get(path.stem)
    assert model is not None, f"{path.stem} is not in {ymls[0].name}"
    return model


def test_every_model_is_documented_in_its_own_folder() -> None:
    """One yml per folder; every model has a description and described columns there."""
    for path in model_files():
        model = declared_model(path)
        assert model.get("description"), f"{path.stem} has no description"
        assert model.get("columns"), f"{path.stem} has no columns"
        for column in model["columns"]:
            assert column.get("description"), f"{path.stem}.{column['name']} has no description"


# The layers in the order data flows through them (models/<layer>/...).
LAYERS = ("staging", "intermediate", "marts")
# ref('x') in SQL and dbt.ref("x") in a Python model.
REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")


def layer(path: Path, root: Path = MODELS) -> str:
    return path.relative_to(root).parts[0]


def upstream_layer_errors(files: list[Path], root: Path = MODELS) -> list[str]:
    """Each ref that points against the flow staging -> intermediate -> marts (a staging model
    reading an intermediate one, anything but a mart reading a mart), or at no model at all."""
    layers = {path.stem: layer(path, root) for path in files}
    errors = []
    for path in files:
        for upstream in sorted(set(REF.findall(strip_comments(path.read_text(encoding="utf-8"))))):
            if upstream not in layers:
                errors.append(f"{path.stem} refs {upstream}, which is not a model")
            elif LAYERS.index(layers[upstream]) > LAYERS.index(layers[path.stem]):
                errors.append(f"{layers[path.stem]} {path.stem} refs {layers[upstream]} {upstream}")
    return errors


def test_the_dag_runs_from_staging_to_intermediate_to_marts() -> None:
    """No staging or intermediate model reads a mart, no staging model an intermediate one: a
    mart is an end of the flow, so what it publishes is never also an input upstream of it."""
    files = model_files()
    assert {layer(path) for path in files} == set(LAYERS)
    assert not upstream_layer_errors(files)


def materialization(path: Path) -> str:
    """How dbt stores a model, in dbt's order of precedence: the config in its file (a Python
    model's dbt.config, a SQL model's config()), else its yml config, else the config of its
    folders in dbt_project.yml (the deepest wins), else a view."""
    in_code = re.search(
        r"""materialized\s*=\s*['"](\w+)['"]""", strip_comments(path.read_text(encoding="utf-8"))
    )
    configured = declared_model(path).get("config", {}).get("materialized")
    if in_code or configured:
        return in_code.group(1) if in_code else configured
    folders = load_yaml(PROJECT_DIR / "dbt_project.yml")["models"]["provmon"]
    found = folders.get("+materialized", "view")
    for part in path.relative_to(MODELS).parts[:-1]:
        folders = folders.get(part, {})
        found = folders.get("+materialized", found)
    return found


def data_test_count(model: dict) -> int:
    columns = model.get("columns", [])
    return len(model.get("data_tests", [])) + sum(len(c.get("data_tests", [])) for c in columns)


# A view is evaluated again by every model that reads it and every data test on it.
MAX_VIEW_EVALUATIONS = 3


def test_a_model_read_or_tested_several_times_is_stored_as_a_table() -> None:
    """At national scale each evaluation of a view can cost seconds to a minute (the nine tests
    of the lift cohorts re-ran their view for 44 s of a build): a staging or intermediate model
    that more than MAX_VIEW_EVALUATIONS models read, or with more than that many data tests, is
    a table, unless its meta `stays_a_view` says why storing it costs more."""
    files = model_files()
    readers: dict[str, set[str]] = {}
    for path in files:
        for upstream in set(REF.findall(strip_comments(path.read_text(encoding="utf-8")))):
            readers.setdefault(upstream, set()).add(path.stem)
    counts = {
        path.stem: (len(readers.get(path.stem, ())), data_test_count(declared_model(path)))
        for path in files
        if layer(path) in ("staging", "intermediate")
        and materialization(path) == "view"
        and not declared_model(path).get("meta", {}).get("stays_a_view")
    }
    views = [
        f"{name} ({read} readers, {tests} tests)"
        for name, (read, tests) in counts.items()
        if max(read, tests) > MAX_VIEW_EVALUATIONS
    ]
    assert not views, f"views evaluated again and again: {', '.join(views)}"
    assert materialization(MODELS / "intermediate/risk/int_risk_base_expanded_to_months.sql") == "view"
    assert materialization(MODELS / "intermediate/measures/int_referrals_costed.sql") == "table"


def test_a_ref_against_the_flow_is_found(tmp_path: Path) -> None:
    """The check above can fail: an intermediate model reading a mart is reported."""
    (tmp_path / "marts").mkdir()
    (tmp_path / "intermediate").mkdir()
    (tmp_path / "marts/fct_a.sql").write_text("select 1 as a", encoding="utf-8")
    reader = tmp_path / "intermediate/int_b.sql"
    reader.write_text("select * from {{ ref( 'fct_a' ) }} -- ref('int_c')", encoding="utf-8")
    files = [tmp_path / "marts/fct_a.sql", reader]
    assert upstream_layer_errors(files, tmp_path) == ["intermediate int_b refs marts fct_a"]


@pytest.mark.parametrize("path", model_files(), ids=lambda p: p.stem)
def test_every_model_has_a_grain_test_on_its_declared_columns(path: Path) -> None:
    """Beside the model, a unique, unique_combination or exactly_one_row test, over columns the
    model declares: a join that fans out rows fails the build where it happens."""
    model = declared_model(path)
    columns = declared_grain(model)
    assert columns is not None, f"{path.stem} has no grain test ({', '.join(GRAIN_TESTS)})"
    declared = {column["name"] for column in model["columns"]}
    assert set(columns) <= declared, f"{path.stem}: grain {set(columns) - declared} not declared"


def test_vars_have_the_spec_defaults() -> None:
    """The defaults of metrics.md, stated here from the spec, not read from the project."""
    variables = load_yaml(PROJECT_DIR / "dbt_project.yml")["vars"]
    assert variables["as_of"] is None
    assert variables["progression_min_hours"] == 1.0
    assert variables["sustain_months"] == [3, 6, 12]
    assert variables["result_grace_days"] == 30
    assert variables["min_n"] == 20
    assert variables["fit_window_days"] == 182
    assert variables["rehab_window_days"] == 365
    assert variables["rolling_months"] == 12
    assert variables["self_supporting_weeks"] == 4
    assert variables["self_supporting_min_weeks"] == 3
    assert variables["benefits_counted_as_self_supporting"] == ["student_grant"]
    assert sorted(variables["rehab_grant_outcomes"]) == ["disability_pension", "flex_job", "resource_course"]
    assert sorted(variables["fit_end_reasons"]) == ["fit", "partially_fit"]


# DuckDB-only syntax that has a cross-database macro or a portable spelling; allowed in macros.
NOT_PORTABLE = {
    "::": "a :: cast (use cast(... as ...))",
    "date_diff(": "date_diff (use dbt.datediff)",
    "date_add(": "date_add (use dbt.dateadd)",
    "interval": "an interval literal (use dbt.dateadd)",
    "qualify": "qualify (use a macro)",
    "strftime": "strftime",
    "isodow": "isodow (use first_monday_on_or_after)",
    "generate_series": "generate_series (use dbt.generate_series)",
    "median(": "median (use the median macro)",
    "group by all": "group by all",
    "exclude (": "select * exclude",
}


def strip_comments(sql: str) -> str:
    sql = re.sub(r"\{#.*?#\}", "", sql, flags=re.S)
    return re.sub(r"--[^\n]*", "", sql)


def plain_sql(sql: str) -> str:
    """The SQL a model writes itself: comments and Jinja (macro calls) removed."""
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", strip_comments(sql), flags=re.S)


@pytest.mark.parametrize("sql", sorted(MODELS.rglob("*.sql")), ids=lambda p: p.stem)
def test_models_use_portable_sql(sql: Path) -> None:
    text = plain_sql(sql.read_text(encoding="utf-8")).lower()
    found = [why for token, why in NOT_PORTABLE.items() if token in text]
    assert not found, f"{sql.name} uses {', '.join(found)} outside a macro"


def test_no_number_in_model_sql_that_a_user_might_change() -> None:
    """Windows, thresholds and codes are vars: no day counts or hour thresholds in the SQL."""
    for sql in MODELS.rglob("*.sql"):
        text = strip_comments(sql.read_text(encoding="utf-8"))
        for number in ("182", "183", "365", "30", "12", "20", "1.96"):
            assert not re.search(rf"(?<![\w.]){re.escape(number)}(?![\w.])", text), f"{sql.name}: {number}"


def test_summary_is_one_line() -> None:
    summary = BuildSummary(dt.date(2024, 6, 30), models=36, tests=210, warnings=2, seconds=12.34)
    text = str(summary)
    assert "\n" not in text
    assert "2024-06-30" in text and "36 models" in text and "210 tests" in text and "12.3 s" in text


def test_dbt_args_pass_as_of_as_a_var() -> None:
    args = dbt_args(dt.date(2024, 5, 31))
    assert args[0] == "build"
    assert json.loads(args[args.index("--vars") + 1]) == {"as_of": "2024-05-31"}
    assert "--vars" not in dbt_args(None)


def failed(name: str, kind: str, message: str) -> SimpleNamespace:
    return SimpleNamespace(
        node=SimpleNamespace(name=name, resource_type=kind), message=message, status="fail"
    )


def test_failure_message_names_the_failing_nodes_on_one_line() -> None:
    failures = [
        failed(
            "unique_fct_referral_outcomes_referral_id", "test", "Got 3 results, configured to fail if != 0"
        ),
        failed("mart_provider_results", "model", "Runtime Error\n  Binder Error: column x not found"),
        failed("a", "test", "x"),
        failed("b", "test", "y"),
        failed("c", "test", "z"),
    ]
    message = failure_message(failures, Path("/tmp/dbt.log"))
    assert "\n" not in message
    assert "test unique_fct_referral_outcomes_referral_id: Got 3 results" in message
    assert "model mart_provider_results: Runtime Error" in message
    assert "and 2 more" in message
    assert "/tmp/dbt.log" in message


def test_messages_mask_cpr_numbers() -> None:
    assert one_line("bad row 010190-1234\nnext") == "bad row 010190-**** next"


def _parsed_manifest(tmp_path: Path, variables: dict | None = None) -> dict:
    """The project's manifest from `dbt parse` with `variables` (no warehouse is opened)."""
    from pipeline.build import dbt_work_dir, run_dbt

    warehouse = tmp_path / "warehouse.duckdb"
    run_dbt(warehouse, dbt_args(None, command=("parse",), variables=variables), schema="main")
    return json.loads((dbt_work_dir(warehouse) / "target" / "manifest.json").read_text(encoding="utf-8"))


def test_the_decision_marts_are_tested_dbt_models_whose_lineage_reaches_the_landing_tables(
    tmp_path: Path,
) -> None:
    """`dbt docs` shows the whole path from a landing table to a booking state: the decision
    marts are models of the project, with grain and accepted-values tests, downstream of
    fct_decision_inputs and so of the landing sources, and of the store (a source) they publish;
    their columns are the engine's rows plus shown and computed_at, each with a data type."""
    from pipeline.decisions.engine import DECISION_COLUMNS
    from pipeline.decisions.store import STORED_EXTRA

    manifest = _parsed_manifest(tmp_path)
    nodes, parents, children = manifest["nodes"], manifest["parent_map"], manifest["child_map"]
    for mart, grain in (
        ("mart_booking_decisions", ["month", "provider_id", "tender_area", "model"]),
        ("mart_booking_allocation", ["month", "model", "tender_area", "provider_id"]),
    ):
        uid = f"model.provmon.{mart}"
        assert nodes[uid]["description"] and all(c["description"] for c in nodes[uid]["columns"].values())
        tests = [nodes[t] for t in children[uid] if t.startswith("test.")]
        names = {t["test_metadata"]["name"] for t in tests}
        assert {"unique_combination", "not_null", "accepted_values"} <= names, mart
        combos = [t for t in tests if t["test_metadata"]["name"] == "unique_combination"]
        assert combos[0]["test_metadata"]["kwargs"]["columns"] == grain
        upstream, todo = set(), [uid]
        while todo:
            new = set(parents.get(todo.pop(), [])) - upstream
            upstream |= new
            todo += new
        assert {
            "model.provmon.fct_decision_inputs",
            "source.provmon.landing.referrals",
            "source.provmon.decisions.booking_decisions",
        } <= upstream, mart
    shape = nodes["model.provmon.mart_booking_decisions"]["columns"]
    assert list(shape) == [*DECISION_COLUMNS, *STORED_EXTRA]
    assert all(c["data_type"] for c in shape.values())
    assert not manifest.get("exposures"), "the decision marts make the exposure redundant"


def test_a_test_skipped_on_an_unchanged_project_checks_a_key_the_sql_guarantees(
    tmp_path: Path,
) -> None:
    """A data test tagged follows_from_sql runs only when the project changes
    (pipeline/project_tests.py), so it may only check what the SQL guarantees whatever the rows:
    - the key of a staging model whose last clause is the newest-delivery rule over exactly that
      key (one row per key: `qualify row_number() over (partition by the key …) = 1`);
    - the key of a model whose `final` CTE groups by exactly that key;
    - or the key of a join (no union, which could repeat a row) that is the union of its parents'
      keys, each tested in every build (untagged, failing the build, on every row) or itself
      tagged and so held to these rules here."""
    from pipeline.project_tests import SQL_TAG

    manifest = _parsed_manifest(tmp_path)
    nodes = manifest["nodes"]
    tagged = [n for n in nodes.values() if n["resource_type"] == "test" and SQL_TAG in n["tags"]]
    newest = [t for t in tagged if _key_of_newest_delivery_rule(nodes[t["attached_node"]], _tested_key(t))]
    assert sorted({nodes[t["attached_node"]]["name"] for t in newest}) == sorted(
        m["name"]
        for m in nodes.values()
        if m["resource_type"] == "model" and "qualify_newest_delivery(" in _last_clause(m)
    )
    grouped = [t for t in tagged if _key_of_final_group_by(nodes[t["attached_node"]], _tested_key(t))]
    joined = [t for t in tagged if t not in newest and t not in grouped]
    assert newest and grouped and joined
    for test in tagged:
        assert test["test_metadata"]["name"] in GRAIN_TESTS
        assert test["config"]["severity"].lower() == "error" and not test["config"].get("where"), test["name"]
    for test in joined:
        _assert_key_of_a_join_of_tested_keys(nodes, test)


NEWEST_DELIVERY_CALL = re.compile(r"\{\{\s*qualify_newest_delivery\(\s*\[([^\]]*)\]\s*\)\s*\}\}$")


def _last_clause(model: dict) -> str:
    """A model's SQL after its last CTE (which closes with a line of its own): the final select
    and what follows it."""
    code = re.sub(r"\{#.*?#\}", "", model.get("raw_code", ""), flags=re.DOTALL)
    return re.split(r"^\)[ \t]*$", code, flags=re.MULTILINE)[-1].strip()


def _tested_key(test: dict) -> list[str]:
    kwargs = test["test_metadata"]["kwargs"]
    return list(kwargs.get("columns") or [kwargs.get("column_name")])


def _key_of_newest_delivery_rule(model: dict, key: list[str]) -> bool:
    """The model ends in `select * from <cte>` and the newest-delivery rule over exactly `key`."""
    lines = [line.strip() for line in _last_clause(model).splitlines() if line.strip()]
    if len(lines) != 2 or not re.fullmatch(r"select \* from \w+", lines[0]):
        return False
    found = NEWEST_DELIVERY_CALL.fullmatch(lines[1])
    named = [part.strip().strip("'\"") for part in found.group(1).split(",")] if found else []
    return bool(found) and sorted(named) == sorted(key) and "union" not in model["raw_code"].lower()


def _key_of_final_group_by(model: dict, key: list[str]) -> bool:
    """The model ends in `select * from final` and its `final` CTE ends in `group by` exactly `key`."""
    code = re.sub(r"\{#.*?#\}", "", model.get("raw_code", ""), flags=re.DOTALL)
    body = re.search(r"^final as \($(.*?)^\)[ \t]*$", code, flags=re.MULTILINE | re.DOTALL)
    if _last_clause(model) != "select * from final" or body is None or "union" in code.lower():
        return False
    grouped = re.search(r"\bgroup by\s+([\w\s,]+?)\s*$", body.group(1).strip())
    return bool(grouped) and sorted(c.strip() for c in grouped.group(1).split(",")) == sorted(key)


def _assert_key_of_a_join_of_tested_keys(nodes: dict, test: dict) -> None:
    from pipeline.equivalence import model_grains

    grains = model_grains(PROJECT_DIR)
    model = nodes[test["attached_node"]]
    parents = [nodes[p] for p in model["depends_on"]["nodes"]]
    implied = {column for parent in parents for column in grains[parent["name"]]}
    assert set(grains[model["name"]]) == implied, model["name"]
    assert "union" not in model["raw_code"].lower(), model["name"]
    for parent in parents:
        parent_tests = [
            n
            for n in nodes.values()
            if n["resource_type"] == "test"
            and n.get("attached_node") == parent["unique_id"]
            and n["test_metadata"]["name"] in GRAIN_TESTS
        ]
        assert parent_tests, parent["name"]
        for n in parent_tests:  # a tagged one is held to these rules by the caller
            assert n["config"]["severity"].lower() == "error" and not n["config"].get("where"), n["name"]


def test_a_unit_test_of_a_model_reading_a_per_build_var_sets_it() -> None:
    """The project's own tests are skipped on the same code whatever as_of and the previous
    build's schema are (pipeline/project_tests.py PER_BUILD_VARS), so no unit test may take them
    from the build."""
    from pipeline.project_tests import PER_BUILD_VARS

    sources = {path.stem: path.read_text(encoding="utf-8") for path in MODELS.rglob("*.sql")}
    unit_tests = [t for p in model_ymls() for t in load_yaml(p).get("unit_tests", [])]
    assert unit_tests
    for test in unit_tests:
        for name in PER_BUILD_VARS:
            if re.search(rf"var\(\s*['\"]{name}['\"]", sources.get(test["model"], "")):
                assert name in test.get("overrides", {}).get("vars", {}), (test["name"], name)


def test_a_test_narrowed_to_new_loads_checks_rows_an_old_row_cannot_change(tmp_path: Path) -> None:
    """A build on the same code runs the landing row tests only on loads no earlier build
    checked (pipeline/landing_checks.py). That is sound only for a test whose result on a row
    depends on that row alone, or on rows of its own load: not null, accepted values, or a key
    that contains the load id; on a view that renames one landing table (a model that ranks
    deliveries, joins or aggregates lets an old row change what a new one looks like)."""
    from pipeline.landing_checks import LANDING_VAR

    sentinel = 987654321  # where configs are rendered when dbt parses: find the tests that use the var
    manifest = _parsed_manifest(tmp_path, {LANDING_VAR: sentinel})
    nodes = manifest["nodes"]
    narrowed = [
        n
        for n in nodes.values()
        if n["resource_type"] == "test" and str(sentinel) in (n["config"].get("where") or "")
    ]
    assert narrowed
    wheres = {test["config"]["where"] for test in narrowed}
    # A row without a load id (landing made by hand) is checked in every build: the condition
    # keeps it whatever the var, where `_load_id > 0` drops it even when the var says "every row".
    (where,) = wheres
    with duckdb.connect() as con:
        for through in (0, sentinel):
            condition = where.replace(str(sentinel), str(through))
            kept = con.execute(
                f"select list(_row_number order by _row_number) from (values (null, 1), (1, 2), "
                f"({sentinel + 1}, 3)) rows(_load_id, _row_number) where {condition}"
            ).fetchone()[0]
            assert kept == ([1, 2, 3] if through == 0 else [1, 3]), (through, kept)
    for test in narrowed:
        kind = test["test_metadata"]["name"]
        assert kind in {"not_null", "accepted_values", "unique_combination"}, test["name"]
        if kind == "unique_combination":
            assert "_load_id" in test["test_metadata"]["kwargs"]["columns"], test["name"]
        model = nodes[test["attached_node"]]
        assert model["config"]["materialized"] == "view", model["name"]
        (parent,) = model["depends_on"]["nodes"]
        assert parent.startswith("source.provmon.landing."), model["name"]
        code = model["raw_code"].lower()
        assert not re.search(r"\b(join|qualify|over|group\s+by|union|where)\b", code), model["name"]
        # _load_id reaches the view as it is: only through delivery_columns, which passes it on.
        assert "_load_id" not in code, model["name"]
        assert "macro.provmon.delivery_columns" in model["depends_on"]["macros"], model["name"]
    passed_on = manifest["macros"]["macro.provmon.delivery_columns"]["macro_sql"]
    assert re.search(r"^\s*_load_id,?\s*$", passed_on, flags=re.MULTILINE), passed_on


# `with x as (select * from {{ ref…('…') }}) select * from x`, whitespace collapsed.
COPY_OF_ONE_MODEL = re.compile(
    r"(\{\{ config\([^}]*\) \}\} )?"
    r"with (\w+) as \( select \* from \{\{ (ref|ref_within_warehouse)\('(\w+)'\) \}\} \) select \* from \2"
)


def test_a_model_that_publishes_another_as_it_stands_is_a_view_that_names_no_catalog() -> None:
    """A mart that is an intermediate model as it stands (so that nothing upstream of a mart
    reads a mart) would copy every row again in every build: nationally 15 s for the 10^7 rows
    of fct_referral_measures. A view of a stored table costs its readers nothing more, as long
    as it reads it without the catalog's name (macro ref_within_warehouse): plain ref() writes
    "warehouse" into the view, which then fails in a warehouse attached under another name."""
    copies = []
    for path in model_files():
        code = strip_comments(path.read_text(encoding="utf-8"))
        found = COPY_OF_ONE_MODEL.fullmatch(" ".join(code.split()))
        if found:
            copies.append(path.stem)
            assert materialization(path) == "view", path.stem
            assert found.group(3) == "ref_within_warehouse", path.stem
    assert sorted(copies) == ["fct_referral_measures", "fct_referral_outcomes"]


def non_text_keys(node: object, path: str = "") -> list[str]:
    """Where a YAML mapping has a key that is not text (a number, a date, a boolean)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                found.append(f"{path}/{key!r}")
            found += non_text_keys(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += non_text_keys(value, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("path", model_ymls(), ids=lambda p: p.stem)
def test_model_yml_keys_are_text_so_dbt_can_reuse_its_parse(path: Path) -> None:
    """dbt stores what it parsed (target/partial_parse.msgpack) and reads it back only if every
    mapping key in it is text: one number key (a unit test's `{1: has_result}`) makes every dbt
    command parse the whole project again."""
    assert not non_text_keys(load_yaml(path)), f"{path.name}: quote these keys"
