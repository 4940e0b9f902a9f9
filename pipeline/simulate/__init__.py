"""`provmon simulate`: closed-loop policy simulation (decisions.md, "Policy simulation").

The open-loop back-test replays decisions over referrals that happened anyway; here each policy
books the month's new referrals itself, their outcomes are drawn from the world's true provider
effects, and the policy decides the next month from what it has seen so far. One module per job:

- world.py     the synthetic world of one seed, from the generator (citizens, market, effects)
- policies.py  the booking policies: none, hard, soft, soft-no-ew, and a candidate rule file
- measures.py  the month's decision inputs in memory, with pipeline/stats (risk model,
               funnel evidence, CUSUM) and the cohort definitions of the dbt project
- adapter.py   the only coupling to the decision engine and the allocation
- loop.py      the month-by-month closed loop of one policy on one world
- outputs.py   the per-policy summary over seeds: Markdown, JSON and a Danish HTML page
"""

from pipeline.simulate.run import SimulationSummary, simulate

__all__ = ["SimulationSummary", "simulate"]
