"""A Gradio app whose progress bar is fed by Outlast's events and survives a page reload.

Run ``outlast serve`` (it defines ``demo.count``), then::

    pip install gradio
    OUTLAST_ADMIN_KEY=... python examples/gradio_app.py

``follow_into`` is the part that is not Gradio: the tests call it.
"""

import hashlib
import os

from outlast import Client


def follow_into(client, task_id, progress):
    """Feeds ``progress(fraction, desc=message)`` (a gr.Progress) from the task's events; returns the ended task."""
    stream = client.events(task_id)
    for event in stream:
        p = event.progress or {}
        if "percent" in p:
            progress(p["percent"] / 100, desc=p.get("message"))
    return stream.task


def main():
    import gradio as gr

    client = Client(os.environ.get("OUTLAST_URL", "http://127.0.0.1:7391"), admin_key=os.environ["OUTLAST_ADMIN_KEY"])

    def count(to, task_id, progress=gr.Progress()):
        if not task_id:  # new work; the same input again re-attaches through its idempotency key
            key = hashlib.sha256(str(to).encode()).hexdigest()
            task_id = client.submit("demo.count", {"to": int(to)}, idempotency_key=key)["task"]["id"]
        yield task_id, "running"  # kept in the browser before the long wait
        task = follow_into(client, task_id, progress)
        yield None, "%s: %s" % (task["state"], task.get("result") or task.get("error"))

    def reattach(task_id, progress=gr.Progress()):
        if task_id:  # a reload: follow the task this browser started
            yield from count(None, task_id, progress)

    with gr.Blocks() as demo:
        saved = gr.BrowserState(None)  # in the browser's storage: outlives a reload
        to = gr.Number(50, label="Count to", precision=0)
        status = gr.Textbox(label="Status")
        gr.Button("Start").click(count, [to, saved], [saved, status])
        demo.load(reattach, saved, [saved, status])
    demo.launch()


if __name__ == "__main__":
    main()
