"""The contract file parses and agrees with raw-extracts.md on keys and required columns."""

from pipeline.contract import load_contract


def test_every_extract_of_the_spec_is_in_the_contract() -> None:
    assert set(load_contract().extracts) == {
        "providers",
        "agreements",
        "referrals",
        "referral_results",
        "paid_hours",
        "benefit_weeks",
        "sickness_cases",
        "rehab_decisions",
        "attendance",
    }


def test_keys_and_cpr_columns() -> None:
    ex = load_contract().extracts
    assert ex["referral_results"].key == ["referral_id", "result_date", "result_type"]
    assert ex["paid_hours"].key == ["cpr", "month"]
    assert [e for e in ex if ex[e].has_cpr] == [
        "referrals",
        "paid_hours",
        "benefit_weeks",
        "sickness_cases",
        "rehab_decisions",
    ]


def test_rule_columns_refer_to_real_columns() -> None:
    for extract in load_contract().extracts.values():
        for col in extract.columns.values():
            for other in (col.not_before, col.not_above, col.required_if_set):
                assert other is None or other in extract.columns, (extract.name, col.name)
