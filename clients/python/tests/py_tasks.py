"""The Python worker the worker tests run (as `python -m outlast.worker py_tasks:worker`, or in-process).

py.chapter's input drives it, so each test asks for what it needs:
    dir       a folder for markers: ran-<i> gets a line (this worker's name) each time step i's function runs
    chapters  how many chapters (steps "chapter-<i>"), default 3
    gate      wait before chapter i until the file <dir>/go-<i> exists (a list of i), or the task is canceled
    plainSleep  wait at a gate with time.sleep: only the next report finds a lost lease
    artifact  save chapters.txt at the end
The worker's name comes from $PY_WORKER_NAME (default "py").
"""

import _path  # noqa: F401  (first: makes `outlast` importable)

import os
import time

from outlast.worker import Worker

NAME = os.environ.get("PY_WORKER_NAME", "py")
worker = Worker(concurrency=int(os.environ.get("PY_WORKER_CONCURRENCY", "2")))


def _mark(folder, name, text):
    with open(os.path.join(folder, name), "a", encoding="utf-8") as file:
        file.write(text + "\n")


@worker.task("py.chapter")
def chapter(input, ctx):
    folder = input["dir"]
    count = int(input.get("chapters", 3))
    gates = set(input.get("gate", []))
    ctx.on_cancel(lambda: _mark(folder, "cancel-seen", "%s %f" % (NAME, time.time())))
    results = []
    for i in range(count):
        if i in gates:
            while not os.path.exists(os.path.join(folder, "go-%d" % i)):
                if input.get("plainSleep"):  # deaf to a lost lease until its next report
                    time.sleep(0.05)
                elif ctx.sleep(0.05):
                    _mark(folder, "stopped", "%s at %d" % (NAME, i))
                    ctx.raise_if_cancelled()
        if ctx.stopping and input.get("checkStopping"):
            _mark(folder, "stopping-seen", NAME)

        def work(i=i):
            _mark(folder, "ran-%d" % i, NAME)
            return {"chapter": i, "by": NAME}

        results.append(ctx.step("chapter-%d" % i, work))
        ctx.progress(current=i + 1, total=count, message="chapter %d of %d" % (i + 1, count))
        ctx.log("chapter %d by %s" % (i, NAME))
    if input.get("artifact"):
        ctx.save_artifact("chapters.txt", ("%d chapters\n" % count).encode(), "text/plain")
    return {"chapters": results, "attempt": ctx.attempt, "by": NAME}


@worker.task("py.shared")
def shared(input, ctx):
    # The handler's own span, inside the claim-to-finish window the store counts as running.
    start = time.time() * 1000
    time.sleep((input or {}).get("ms", 300) / 1000)
    return {"by": "py", "start": start, "end": time.time() * 1000}


@worker.task("py.noop")
def noop(input, ctx):
    return None
