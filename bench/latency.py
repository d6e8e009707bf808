"""Daemon latency and idle cost: push → job start, push → pull request, then 60 s idle.

The daemon (``speckitd run`` in a child process) watches a bare repository; each of 50
pushes approves one task; the scripted model answers at once. Latencies come from the
daemon's own log timestamps against the moment ``git push`` started. The baseline,
measured in the same run, is how long ``git push`` itself took. Then the daemon sits
idle for 60 s while its CPU time and RSS are read from /proc.

    ./uvw run python bench/latency.py [--pushes 50] [--idle 60]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.demo.modelserver import FakeMessagesAPI  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.service.support import CONSTITUTION, SAMPLE, TASKS, Daemon, implement  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def logged_at(event: dict[str, object]) -> float:
    stamp = str(event["timestamp"]).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(stamp).timestamp()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=50)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    ids = [f"T2{n:02d}" for n in range(1, args.pushes + 1)]
    with tempfile.TemporaryDirectory() as temp, FakeMessagesAPI() as model:
        root = Path(temp)
        model.responder = implement
        bare = root / "watched.git"
        GitRepo(bare, bare=True)
        team = GitRepo(root / "team")
        shutil.copytree(SAMPLE, team.path, dirs_exist_ok=True)
        team.write(".specify/memory/constitution.md", CONSTITUTION)
        tasks = team.path / TASKS
        extra = "".join(f"- [ ] {t} Add module {t} (plan.md §3.1)\n" for t in ids)
        tasks.write_text(tasks.read_text() + extra)
        team.commit("specs")
        team.git("remote", "add", "origin", str(bare))
        team.git("push", "-q", "origin", "main")
        config = root / "speckitd.toml"
        config.write_text(
            f'[daemon]\nstate_dir = "{root / "state"}"\nhttp = "127.0.0.1:0"\n\n'
            f'[[repos]]\nname = "bench/todo"\npath = "{bare}"\nbranch = "main"\n\n'
            f'[anthropic]\nbase_url = "{model.url}"\napi_key = "k"\n\n'
            '[checks]\ncommands = []\n\n[publish]\nremote = ""\n'
        )
        daemon = Daemon(config)
        daemon.wait_for("scan.first_sight")
        to_start: list[float] = []
        to_pr: list[float] = []
        push_times: list[float] = []
        for task in ids:
            text = tasks.read_text().replace(f"- [ ] {task} ", f"- [ ] {task} [approved] ")
            team.commit(f"Approve {task}", {TASKS: text})
            pushed = time.time()
            team.git("push", "-q", "origin", "main")
            push_times.append(time.time() - pushed)
            [start] = daemon.wait_for("job.start", where=lambda e, t=task: e.get("task") == t)
            [done] = daemon.wait_for("job.published", where=lambda e, t=task: e.get("task") == t)
            to_start.append(logged_at(start) - pushed)
            to_pr.append(logged_at(done) - pushed)
            print(f"\r{len(to_start)}/{len(ids)} pushes", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        pid = daemon.process.pid
        idle_start, wall = cpu_seconds(pid), time.monotonic()
        threading.Event().wait(args.idle)  # the daemon idles; nothing to wait for here
        idle_cpu = (cpu_seconds(pid) - idle_start) / (time.monotonic() - wall) * 100
        rss = rss_mib(pid)
        daemon.kill(signal.SIGTERM)
    push = statistics.median(push_times)
    print(f"git push itself (baseline): median {push * 1000:.0f} ms")
    for name, values in (("push → job start", to_start), ("push → pull request", to_pr)):
        p50, p95 = quantile(values, 0.5), quantile(values, 0.95)
        print(
            f"{name}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms ({p95 / push:.1f}x git push)"
        )
    print(f"idle for {args.idle:g} s: CPU {idle_cpu:.2f} %, RSS {rss:.0f} MiB")
    p95_start = quantile(to_start, 0.95)
    print(f"targets: p95 push → start {p95_start:.3f} s ≤ 0.5 s; idle CPU {idle_cpu:.2f} % ≤ 1 %")
    return 0 if p95_start <= 0.5 and idle_cpu <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
