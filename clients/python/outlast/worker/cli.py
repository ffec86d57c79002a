"""The command line: ``python -m outlast.worker [options] module:attr``.

``module:attr`` names a :class:`~outlast.worker.Worker` (``attr`` defaults
to ``worker``); the module is imported with the current directory on the
path. The options override what the Worker was made with. Exit status: 0
after a stop by SIGTERM/SIGINT, 1 when the server refuses the worker (bad
key, unknown task), 2 for bad arguments.
"""

import argparse
import importlib
import logging
import os
import sys
from typing import List, Optional

from ..errors import OutlastError
from .worker import Worker

__all__ = ["main", "load_worker"]


def load_worker(target: str) -> Worker:
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise ValueError("name the worker as module:attr, e.g. chapters:worker")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    found = getattr(module, attr or "worker", None)
    if not isinstance(found, Worker):
        raise ValueError("%s is not an outlast.worker.Worker (found %s)" % (target, type(found).__name__))
    return found


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m outlast.worker", description="Runs the tasks of an outlast.worker.Worker, claimed over HTTP.")
    p.add_argument("target", metavar="module:attr", help="the Worker to run (attr defaults to worker)")
    p.add_argument("--url", help="the server's URL (default: the Worker's, else $OUTLAST_URL)")
    p.add_argument("--key", help="a worker key, owk_… (default: the Worker's, else $OUTLAST_WORKER_KEY)")
    p.add_argument("--queue", action="append", dest="queues", metavar="Q", help="claim only tasks registered on this queue (repeatable)")
    p.add_argument("--concurrency", type=int, help="tasks run at once")
    p.add_argument("--worker-id", help="this worker's name (default HOST:PID:RANDOM)")
    p.add_argument("--lease-ms", type=int, help="the lease each claim asks for (default the server's)")
    p.add_argument("--grace", type=float, help="seconds running tasks get on SIGTERM before they are handed back (default 10)")
    p.add_argument("--log-level", default=os.environ.get("OUTLAST_LOG_LEVEL", "info"), help="debug, info, warning or error (default info)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO), format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        worker = load_worker(args.target)
        for name in ("url", "key", "queues", "concurrency", "worker_id", "lease_ms", "grace"):
            value = getattr(args, name)
            if value is not None:
                setattr(worker, name, value)
        worker.run()
    except (ValueError, ImportError) as error:
        print("outlast worker: %s" % error, file=sys.stderr)
        return 2
    except OutlastError as error:
        print("outlast worker: the server refused: %s" % error, file=sys.stderr)
        return 1
    return 0
