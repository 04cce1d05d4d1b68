from artiflow import FlowSpec, step


class DelFlow(FlowSpec):
    @step
    def start(self):
        self.a, self.b, self.temp = 1, 2, 3
        self.next(self.middle)

    @step
    def middle(self):
        del self.a  # inherited, never loaded
        self.temp += 1
        del self.temp  # set here
        try:
            del self.nothing
        except AttributeError as exc:
            self.del_error = str(exc)
        self.next(self.end)

    @step
    def end(self):
        self.seen = sorted(k for k in ("a", "b", "temp") if hasattr(self, k))


if __name__ == "__main__":
    DelFlow()
