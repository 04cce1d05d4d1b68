"""Prints `--mb` MiB of one kind of output (tests/test_output.py rebuilds the same bytes with `payload`).

Kinds: `progress` (tqdm-like `\\r` updates with invalid UTF-8 in each, flushed one by one),
`longline` (one line that never ends, with multi-byte characters), `binary` (random bytes).
The task stores its own CPU time, so a test can tell the runner's CPU from the task's.
"""

import os
import random
import resource
from typing import Iterator

from artiflow import FlowSpec, Parameter, step

UPDATE_BYTES = 200


def payload(kind: str, size: int) -> Iterator[bytes]:
    """The writes the task makes, in order: about `size` bytes in all (deterministic)."""
    if kind == "progress":
        yield b"starting\n"
        done = 0
        while done < size:
            pct = done * 100 // size
            update = b"\r%3d%%|%-50s| %d/%d \xff\xc3\x28 bad UTF-8" % (pct, b"#" * (pct // 2), done, size)
            update = update.ljust(UPDATE_BYTES)
            done += len(update)
            yield update
        yield b"\ndone\n"
    elif kind == "longline":
        piece = "abc é ü 漢字 ".encode() * 4000
        for _ in range(size // len(piece)):
            yield piece
    elif kind == "binary":
        rng = random.Random(7)
        for _ in range(size >> 16):
            yield rng.randbytes(1 << 16)
    else:
        raise ValueError(f"unknown kind {kind!r}")


class OutputFlow(FlowSpec):
    kind = Parameter("kind", default="progress")
    mb = Parameter("mb", default=1.0, type=float)
    stream = Parameter("stream", default="stdout")

    @step
    def start(self):
        fd = 1 if self.stream == "stdout" else 2
        for data in payload(self.kind, int(self.mb * (1 << 20))):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        usage = resource.getrusage(resource.RUSAGE_SELF)  # this task's own CPU: a forked child starts at 0
        self.task_cpu = usage.ru_utime + usage.ru_stime
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    OutputFlow()
