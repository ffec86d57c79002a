"""The bench's Python worker: one no-op task, run by `python -m outlast.worker bench_noop:worker`."""

from outlast.worker import Worker

worker = Worker()


@worker.task("noop")
def noop(input, ctx):
    return None
