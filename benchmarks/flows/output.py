"""OutputFlow: one task prints MB MiB of `\\r` progress updates with invalid UTF-8 in each (the soak case).

Like tqdm, each update is written and flushed on its own, starts with `\\r` and never ends the line:
the whole output is one 50 MiB line until the final newline. The task prints its own CPU time at the
end so the harness can tell the runner's CPU from the task's.
"""
import resource
import sys

from metaflow import FlowSpec, Parameter, step

UPDATE_BYTES = 200


class OutputFlow(FlowSpec):
    mb = Parameter("mb", default=50, type=int, help="MiB of progress output")

    @step
    def start(self):
        out = sys.stdout.buffer
        total, done = self.mb << 20, 0
        while done < total:
            pct = done * 100 // total
            update = b"\r%3d%%|%-50s| %d/%d B \xff\xfe\xc3\x28 [not UTF-8]" % (pct, b"#" * (pct // 2), done, total)
            update = update.ljust(UPDATE_BYTES)
            out.write(update)
            out.flush()
            done += len(update)
        out.write(b"\n")
        out.flush()
        usage = resource.getrusage(resource.RUSAGE_SELF)  # a forked task's own CPU only: counts restart at fork
        print(f"BENCH_TASK_CPU_SECONDS {usage.ru_utime + usage.ru_stime:.3f}", flush=True)
        self.printed = done + 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    OutputFlow()
