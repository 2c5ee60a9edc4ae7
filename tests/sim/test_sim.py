"""A bounded run of the multi-client simulation for CI; `python tests/sim --seeds N` runs more."""

from __future__ import annotations

from pathlib import Path

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


def test_the_long_run_result_replaces_only_its_block(tmp_path: Path) -> None:
    from tests.sim.__main__ import RECORD_BEGIN, RECORD_END, clients_for, record

    doc = tmp_path / "RELIABILITY.md"
    doc.write_text(
        f"# 可靠性\n\nbefore\n\n{RECORD_BEGIN}\nNot run yet.\n{RECORD_END}\n\nafter\n", encoding="utf-8"
    )
    record(doc, "python tests/sim --seeds 2", "2 runs, 1 violations", ["seed 7 (3 clients): 4: x"], 3725.0)
    text = doc.read_text(encoding="utf-8")
    assert "Not run yet." not in text
    assert "**2 runs, 1 violations** in 1 h 02 min 05 s" in text
    assert "seed 7 (3 clients): 4: x" in text
    assert text.startswith("# 可靠性\n\nbefore\n") and text.endswith("\n\nafter\n")
    assert [clients_for(s, "mix") for s in range(4)] == [2, 3, 4, 2]
    assert clients_for(5, "4") == 4
