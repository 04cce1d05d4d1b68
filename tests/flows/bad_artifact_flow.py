from artiflow import FlowSpec, step


class BadArtifactFlow(FlowSpec):
    @step
    def start(self):
        self.fine = 1
        self.gen = (i for i in range(3))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BadArtifactFlow()
