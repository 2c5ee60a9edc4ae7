"""A randomized multi-client simulation with invariants, in the spirit of Dropbox's sync tests.

A seed draws a list of steps: file edits on several clients, edits made directly in the cloud (as
Baidu's web app would), syncs on some client, crashes at labelled points. After the steps, every
client syncs until quiet, and five invariants are checked:

1. convergence: every client's folder equals the cloud folder;
2. no loss: every content a client held when it synced is somewhere at the end (a folder, a
   conflict copy, the cloud trash or a local trash), unless the user replaced it in the cloud;
3. no resurrection: a path deleted and synced, with no later write anywhere, stays deleted;
4. the shared index agrees with the cloud, and every client's synced tree agrees with the index;
5. the lock was never held by two clients at once: index generations only increase.

A failing seed is replayed exactly by its seed; `shrink` finds a shorter step list that fails too.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pansync.errors import MassDeleteRefused
from pansync.index_store import load_index
from pansync.names import key_of
from pansync.remote.local import LocalRemote
from tests.e2e.harness import Client, snapshot

NAMES = ["a.txt", "b.md", "报告.docx", "第一章：概述.txt", "notes", "照片", "Data", "x (1).txt"]
CRASH_LABELS = ["after-upload", "mid-download", "holding-lock", "after-conflict-rename", "mid-trash-move"]
CONFIG = "lock:\n  ttl: 5s\n"


@dataclass(frozen=True)
class Step:
    op: str
    who: int  # client index, or -1 for the cloud itself
    path: str = ""
    other: str = ""
    content: bytes = b""

    def __str__(self) -> str:
        where = "cloud" if self.who < 0 else f"client{self.who}"
        extra = f" -> {self.other}" if self.other else ""
        data = f" {self.content!r}" if self.content else ""
        return f"{self.op:8} {where:8} {self.path}{extra}{data}"


@dataclass
class Outcome:
    seed: int
    steps: list[Step]
    violations: list[str] = field(default_factory=list)


def draw_steps(seed: int, clients: int, count: int | None = None) -> list[Step]:
    rng = random.Random(seed)
    steps: list[Step] = []
    n = count if count is not None else rng.randint(12, 30)
    for i in range(n):
        who = rng.randrange(clients)
        roll = rng.random()
        path = rng.choice(NAMES) if rng.random() < 0.6 else f"{rng.choice(NAMES)}/{rng.choice(NAMES)}"
        content = f"s{seed}-{i}".encode()
        if roll < 0.30:
            steps.append(Step("write", who, path, content=content))
        elif roll < 0.37:
            steps.append(Step("write", -1, path, content=content))  # an edit in the web app
        elif roll < 0.42:
            steps.append(Step("truncate", who, path))
        elif roll < 0.52:
            steps.append(Step("delete", who, path))
        elif roll < 0.60:
            steps.append(Step("rename", who, path, rng.choice(NAMES)))
        elif roll < 0.64:
            steps.append(Step("mkdir", who, path))
        elif roll < 0.68:
            steps.append(Step("swap", who, path, content=content))
        elif roll < 0.97:
            steps.append(Step("sync", who))
        else:
            steps.append(Step("crash", who, rng.choice(CRASH_LABELS)))
    return steps


class Simulation:
    def __init__(self, base: Path, clients: int, remote: str = "file", seed: int = 0) -> None:
        self.server: Any = None
        if remote == "fakepcs":
            self.server = _start_fakepcs(base / "fakepcs", seed)
            self.cloud = base / "fakepcs" / "apps" / "bypy" / "sim"
            url = "baidu:/apps/bypy/sim"
        else:
            self.cloud = base / "cloud"
            self.cloud.mkdir()
            url = self.cloud.as_uri()
        self.clients = [Client(base, f"c{i}", url, extra_config=CONFIG) for i in range(clients)]
        for c in self.clients:
            c.root.mkdir(parents=True)
            if self.server is not None:
                from pansync.auth import store_tokens

                c.env["PANSYNC_BAIDU_ENDPOINT"] = self.server.url
                store_tokens(c.home / "state", self.server.token, self.server.refresh_token)
        self.held: list[set[bytes]] = []  # contents a client held at each of its syncs
        self.replaced_in_cloud: set[bytes] = set()
        self.generations: list[int] = []
        self.violations: list[str] = []
        self.writes: dict[str, list[tuple[int, int]]] = {}  # key -> [(step, who)]
        self.deletes: list[tuple[int, int, str]] = []  # (step, who, key) of files
        self.syncs: dict[int, list[int]] = {i: [] for i in range(clients)}
        self.touched: dict[int, set[str]] = {i: set() for i in range(clients)}  # what a watcher saw
        self.seed = seed
        self.step = 0

    def root_of(self, who: int) -> Path:
        return self.cloud if who < 0 else self.clients[who].root

    # -- steps --------------------------------------------------------------------------------------

    def apply(self, index: int, step: Step) -> None:
        root = self.root_of(step.who)
        path = root / step.path
        if step.op == "sync":
            self.syncs[step.who].append(index)
            # Two syncs in three are scoped to the paths this client changed, as its agent's are.
            scoped = (self.seed + index) % 3 != 0
            self.sync(self.clients[step.who], scope=self.touched[step.who] if scoped else None)
            return
        if step.op == "crash":
            self.crash(self.clients[step.who], step.path)
            return
        if step.who >= 0:  # the watcher reports the path, and a rename's both ends
            self.touched[step.who].update(key_of(p) for p in (step.path, step.other) if p)
        if not self._parent_ok(root, step.path):
            return
        key = key_of(step.path)
        if step.op in ("write", "truncate"):
            if path.is_dir():
                return
            if step.who < 0 and path.exists():
                self.replaced_in_cloud.add(path.read_bytes())
            if step.who < 0 and self.server is not None:
                self.server.put_file(f"/apps/bypy/sim/{step.path}", step.content)  # the web app
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(step.content)
            self._wrote(index, step.who, root, step.path)
        elif step.op == "delete":
            if step.who < 0:
                return
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
                self.deletes.append((index, step.who, key))
        elif step.op == "rename":
            target = root / step.other
            if path.exists() and not target.exists() and not step.other.startswith(step.path + "/"):
                path.rename(target)
                self._wrote(index, step.who, root, step.other)
        elif step.op == "mkdir":
            if not path.exists():
                path.mkdir(parents=True)
                self._wrote(index, step.who, root, step.path)
        elif step.op == "swap":
            if path.is_dir():
                shutil.rmtree(path)
                path.write_bytes(step.content)
            elif path.exists():
                path.unlink()
                path.mkdir()
            self._wrote(index, step.who, root, step.path)

    def _wrote(self, index: int, who: int, root: Path, rel: str) -> None:
        """Record a write to `rel` and to everything below it (a renamed folder brings its tree)."""
        parts = rel.split("/")
        keys = [key_of("/".join(parts[: i + 1])) for i in range(len(parts))]  # parents made with it
        if (root / rel).is_dir():
            keys += [key_of(f"{rel}/{k}") for k in snapshot(root / rel)]
        for key in keys:
            self.writes.setdefault(key, []).append((index, who))

    @staticmethod
    def _parent_ok(root: Path, rel: str) -> bool:
        parent = (root / rel).parent
        while parent != root:
            if parent.exists() and not parent.is_dir():
                return False
            parent = parent.parent
        return True

    def sync(self, client: Client, *, force: bool = False, scope: set[str] | None = None) -> bool:
        self.held.append({v for v in snapshot(client.root).values() if v})
        try:
            result = client.sync(force=force, scope=None if scope is None else set(scope))
        except MassDeleteRefused:
            return self.sync(client, force=True, scope=scope)
        self._check_generation()
        if not result.failed:  # a failed path stays queued, as the agent's work queue keeps it
            self.touched[self.clients.index(client)].clear()
        return bool(result.done) or bool(result.failed)

    def crash(self, client: Client, label: str) -> None:
        # Not a sync that completed: what it held is owed only once a later sync finishes.
        env = {**client.env, "PANSYNC_CRASH_AT": label}
        subprocess.run(
            [sys.executable, "-m", "pansync", "sync", "--force"], env=env, capture_output=True, timeout=120
        )

    def _check_generation(self) -> None:
        index = load_index(LocalRemote(self.cloud))
        if index is None:
            return
        if self.generations and index.generation < self.generations[-1]:
            self.violations.append(
                f"5: index generation went back from {self.generations[-1]} to {index.generation}"
            )
        self.generations.append(index.generation)

    # -- the end ------------------------------------------------------------------------------------

    def settle(self) -> None:
        for _ in range(6):
            busy = False
            for client in self.clients:
                busy |= self.sync(client)
            if not busy:
                return
        self.violations.append("1: the clients did not become quiet after 6 rounds")

    def check(self, steps: list[Step]) -> None:
        cloud = snapshot(self.cloud)
        for client in self.clients:
            if snapshot(client.root) != cloud:
                diff = set(snapshot(client.root).items()) ^ set(cloud.items())
                self.violations.append(f"1: {client.name} differs from the cloud: {sorted(diff)[:4]}")
        everything = self._everything()
        for held in self.held:
            lost = held - everything - self.replaced_in_cloud
            if lost:
                self.violations.append(f"2: lost contents {sorted(lost)[:4]}")
                break
        self._check_index(cloud)
        self._check_resurrection(cloud)

    def _check_resurrection(self, cloud: dict[str, bytes | None]) -> None:
        """A file deleted by a client that had seen its latest version, written by nobody after
        that, must not come back (modify-beats-delete covers only writes the deleter had not seen)."""
        present = {key_of(k) for k in cloud}

        def synced_between(who: int, lo: int, hi: int) -> int | None:
            return next((i for i in self.syncs.get(who, []) if lo < i < hi), None)

        for index, who, key in self.deletes:
            if key not in present:
                continue
            writes = self.writes.get(key, [])
            if any(w > index for w, _ in writes):
                continue
            seen = True
            for w, writer in writes:
                published = w if writer < 0 else synced_between(writer, w, index)
                if published is None or synced_between(who, published, index) is None:
                    seen = False
            if seen and any(i > index for i in self.syncs[who]):
                self.violations.append(f"3: {key} deleted at step {index} came back")

    def _everything(self) -> set[bytes]:
        found: set[bytes] = set()
        roots = [self.cloud] + [c.root for c in self.clients] + [c.home for c in self.clients]
        trash = Path(os.environ.get("XDG_DATA_HOME", "")) / "Trash"
        roots.append(trash)
        for root in roots:
            for dirpath, _, filenames in os.walk(root):
                for name in filenames:
                    if name.endswith((".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".trashinfo")):
                        continue
                    with contextlib.suppress(OSError):
                        found.add((Path(dirpath) / name).read_bytes())
        return found

    def _check_index(self, cloud: dict[str, bytes | None]) -> None:
        index = load_index(LocalRemote(self.cloud))
        if index is None:
            return
        live = {k: e for k, e in index.entries.items() if not e.deleted}
        cloud_keys = {key_of(k) for k in cloud}
        if set(live) != cloud_keys:
            self.violations.append(f"4: index and cloud differ: {sorted(set(live) ^ cloud_keys)[:4]}")
        for client in self.clients:
            state = client.state()
            synced = set(state.load_synced())
            state.close()
            if synced != set(live):
                self.violations.append(f"4: {client.name}'s synced tree differs from the index")


def _start_fakepcs(root: Path, seed: int) -> Any:
    """fakepcs over real HTTP with faults on: 3% of requests answer a 5xx page (retried)."""
    contrib = str(Path(__file__).resolve().parents[2] / "contrib")
    if contrib not in sys.path:
        sys.path.insert(0, contrib)
    from fakepcs.testing import start_server

    server = start_server(root)
    server.set_faults(seed=seed, error_rate={"*": 0.03}, error_kind="5xx")
    return server


def run_seed(seed: int, clients: int, steps: list[Step] | None = None, remote: str = "file") -> Outcome:
    steps = steps if steps is not None else draw_steps(seed, clients)
    with tempfile.TemporaryDirectory(prefix=f"pansync-sim-{seed}-") as tmp:
        sim = Simulation(Path(tmp), clients, remote, seed)
        try:
            for i, step in enumerate(steps):
                sim.apply(i, step)
            if sim.server is not None:
                sim.server.clear_faults()  # the final settling is judged, not the weather
            sim.settle()
            sim.check(steps)
        except Exception as exc:  # any crash of the engine is a violation, with its seed
            sim.violations.append(f"exception: {type(exc).__name__}: {exc}")
        finally:
            if sim.server is not None:
                sim.server.stop()
        return Outcome(seed, steps, sim.violations)


def shrink(outcome: Outcome, clients: int, remote: str = "file") -> list[Step]:
    """Drop steps one at a time while the run still fails: a short list is a readable bug report."""
    steps = list(outcome.steps)
    changed = True
    while changed:
        changed = False
        for i in range(len(steps)):
            candidate = steps[:i] + steps[i + 1 :]
            if run_seed(outcome.seed, clients, candidate, remote).violations:
                steps = candidate
                changed = True
                break
    return steps
