"""A FastAPI backend that hands long work to Outlast and lets the browser watch it.

    pip install fastapi uvicorn
    OUTLAST_ADMIN_KEY=... uvicorn examples.fastapi_app:app

The endpoints are plain ``def``: the client blocks (urllib), so FastAPI runs
them in its thread pool.
"""

import os

from outlast import Client, NotFound, QueueFull

from fastapi import FastAPI, HTTPException

app = FastAPI()
outlast = Client(os.environ.get("OUTLAST_URL", "http://127.0.0.1:7391"), admin_key=os.environ["OUTLAST_ADMIN_KEY"])


@app.post("/jobs")
def start(to: int, user: str):
    try:
        answer = outlast.submit("demo.count", {"to": to}, owner=user)
    except QueueFull as full:
        raise HTTPException(429, full.message, headers={"Retry-After": str(int(full.retry_after or 1))})
    # The task token may read and watch this one task: the page opens
    # new EventSource(OUTLAST_URL + "/api/v1/tasks/" + taskId + "/events?token=" + token)
    return {"taskId": answer["task"]["id"], "token": answer["token"]}


@app.get("/jobs/{task_id}")
def status(task_id: str):
    try:
        return outlast.get(task_id)
    except NotFound:
        raise HTTPException(404, "No such job")
