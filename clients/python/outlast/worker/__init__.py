"""Run Outlast tasks in Python: a worker that claims them over HTTP with a worker key.

::

    from outlast.worker import Worker

    worker = Worker(concurrency=2)

    @worker.task("tts.chapter")
    def speak(input, ctx):
        audio = ctx.step("synthesise", lambda: synthesise(input["text"]))
        ctx.progress(percent=100, message="done")
        return {"seconds": audio["seconds"]}

Run it with ``python -m outlast.worker --url URL --key owk_… module:worker``.
The server must declare each task (``outlast.remote(name, spec)``).
"""

from .context import Context
from .outcomes import Canceled, Retry, Unrecoverable
from .worker import TaskFunction, Worker

__all__ = ["Worker", "Context", "TaskFunction", "Retry", "Unrecoverable", "Canceled"]
