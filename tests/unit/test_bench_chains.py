"""The pandas reference's course chains (bench/pandas_outcomes.py), on the cases of the dbt unit
test chain_named_inferred_at_7_days_not_at_8_and_three_links: the small synthetic data has no
rebookings yet, so the equality test with fct_referral_outcomes cannot reach this code."""

import pandas as pd

from bench.pandas_outcomes import PERSON, course_chains, load_params

ROWS = [
    # referral, person, provider, previous_referral_id, start, end, end_reason
    ("X1", 1, "P1", None, "2023-01-02", "2023-03-31", "rebooked"),
    ("X2", 1, "P1", "X1", "2023-04-03", "2023-06-30", "rebooked"),
    ("X3", 1, "P1", None, "2023-07-07", None, None),  # 7 days after X2's end
    ("Y1", 2, "P1", None, "2023-01-02", "2023-03-31", "rebooked"),
    ("Y2", 2, "P1", None, "2023-04-08", None, None),  # 8 days after
    ("Z1", 3, "P1", None, "2023-01-02", "2023-03-31", "rebooked"),
    ("Z2", 3, "P2", None, "2023-04-01", "2023-05-31", "job"),  # another provider
    ("Z3", 3, "P2", "Z2", "2023-05-31", None, None),  # names a referral that did not end rebooked
]


def test_chains_named_inferred_within_7_days_not_8() -> None:
    scope = pd.DataFrame(
        ROWS, columns=["referral_id", PERSON, "provider_id", "previous_referral_id", "start_date", "end_date",
                       "end_reason"],
    ).assign(tender_area=1)  # fmt: skip
    for column in ("start_date", "end_date"):
        scope[column] = pd.to_datetime(scope[column])
    chains = course_chains(scope, load_params())
    assert chains["course_id"].to_dict() == {
        "X1": "X1", "X2": "X1", "X3": "X1", "Y1": "Y1", "Y2": "Y2", "Z1": "Z1", "Z2": "Z2", "Z3": "Z3",
    }  # fmt: skip
    assert chains.loc[["X1", "X2", "X3"], "link_number"].tolist() == [1, 2, 3]
    assert set(chains.loc[["X1", "X2", "X3"], "last_referral_id"]) == {"X3"}
