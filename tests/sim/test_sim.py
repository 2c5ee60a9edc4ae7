"""A bounded run of the multi-client simulation for CI; `python tests/sim --seeds N` runs more."""

from __future__ import annotations

import pytest

from tests.sim.simulation import Step, run_seed


@pytest.mark.parametrize("seed", range(6))
def test_three_clients_converge_and_lose_nothing(seed: int) -> None:
    outcome = run_seed(seed, clients=3)
    assert not outcome.violations, (outcome.violations, [str(s) for s in outcome.steps])


def test_a_planted_loss_is_caught() -> None:
    """The checker itself must be able to fail: content deleted behind PanSync's back is a loss."""
    steps = [Step("write", 0, "a.txt", content=b"precious"), Step("sync", 0), Step("sync", 1)]
    outcome = run_seed(0, clients=2, steps=steps)
    assert not outcome.violations
    from tests.sim import simulation

    original = simulation.Simulation.settle

    def settle_then_destroy(self: simulation.Simulation) -> None:
        original(self)
        for client in self.clients:
            (client.root / "a.txt").unlink()
        (self.cloud / "a.txt").unlink()

    simulation.Simulation.settle = settle_then_destroy  # type: ignore[method-assign]
    try:
        outcome = run_seed(0, clients=2, steps=steps)
    finally:
        simulation.Simulation.settle = original  # type: ignore[method-assign]
    assert any(v.startswith("2:") for v in outcome.violations)


@pytest.mark.parametrize("seed", range(2))
def test_three_clients_on_fakepcs_with_faults(seed: int) -> None:
    outcome = run_seed(100 + seed, clients=3, remote="fakepcs")
    assert not outcome.violations, (outcome.violations, [str(s) for s in outcome.steps])
