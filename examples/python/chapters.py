"""A Python worker that "converts" chapters to audio: a short tone per chapter, as a WAV file.

Run it (the server must declare chapters.convert: see tasks.mjs)::

    python -m outlast.worker --url http://127.0.0.1:7391 --key owk_… chapters:worker

Each chapter is a step, so a retry (or another worker after this one died)
starts at the first chapter not done; each WAV is saved with the task.
"""

import io
import math
import struct
import wave

from outlast.worker import Worker

worker = Worker(concurrency=2)


@worker.task("chapters.convert")
def convert(input, ctx):
    chapters = input["chapters"]
    done = []
    for number, text in enumerate(chapters, start=1):
        ctx.raise_if_cancelled()
        name = "chapter-%02d.wav" % number

        def speak(text=text, name=name):
            audio = tone(seconds=min(3.0, 0.2 + 0.02 * len(text.split())), pitch=220 + 20 * number)
            ctx.save_artifact(name, audio, "audio/wav")
            return {"file": name, "bytes": len(audio)}

        done.append(ctx.step("chapter-%d" % number, speak))
        ctx.progress(current=number, total=len(chapters), message="Chapter %d of %d" % (number, len(chapters)))
    ctx.log("%s: %d chapters converted" % (input["title"], len(done)))
    return {"title": input["title"], "chapters": done}


def tone(seconds, pitch, rate=8000):
    """A mono 16-bit sine of ``pitch`` Hz lasting ``seconds``, as WAV bytes (the standard library's ``wave``)."""
    frames = int(seconds * rate)
    samples = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * i / rate))) for i in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples)
    return out.getvalue()
