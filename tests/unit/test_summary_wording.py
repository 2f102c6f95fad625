"""Summary lines read as a person says them: counts agree with their nouns and verbs."""

import pytest
from incident_lab.probes.postgres.idle_in_transaction import holding_words


@pytest.mark.parametrize(
    ("holders", "waiting", "said"),
    [
        (1, 1, "1 of them holds locks that 1 waiting session needs"),
        (1, 3, "1 of them holds locks that 3 waiting sessions need"),
        (2, 1, "2 of them hold locks that 1 waiting session needs"),
        (0, 0, "0 of them hold locks that 0 waiting sessions need"),
    ],
)
def test_idle_transactions_holding_locks(holders, waiting, said):
    assert holding_words(holders, waiting) == said
