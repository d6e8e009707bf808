"""The service's commands: ``run``, ``once`` and ``demo``.

They are registered without importing the service, so watchdog, APScheduler and the
store load only when one of these commands runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``, ``once`` and ``demo`` to the ``speckitd`` command parser."""
    run = commands.add_parser("run", help="run the daemon in the foreground (systemd: notify)")
    run.add_argument(
        "--backfill",
        action="store_true",
        help="on first sight, queue approved open tasks that have no PR yet",
    )
    run.set_defaults(handler=cmd_run)
    once = commands.add_parser("once", help="scan every repository, run what is queued, exit")
    once.add_argument("--backfill", action="store_true", help="as for run")
    once.set_defaults(handler=cmd_once)
    demo = commands.add_parser("demo", help="watch the whole flow on a sample repository, offline")
    demo.add_argument("--dir", type=Path, help="where to put the demo (default: a new temp dir)")
    demo.add_argument(
        "--live", action="store_true", help="use the real model (needs ANTHROPIC_API_KEY)"
    )
    demo.set_defaults(handler=cmd_demo)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd run``."""
    from daemon.service.main import run  # noqa: PLC0415 - heavy imports, this command only

    return run(settings, backfill=args.backfill)


def cmd_once(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd once``."""
    from daemon.service.main import once  # noqa: PLC0415

    return once(settings, backfill=args.backfill)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """``speckitd demo``."""
    from daemon.demo.run import demo  # noqa: PLC0415

    return demo(args.dir, live=args.live)
