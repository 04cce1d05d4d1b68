"""The smallest flow: a message set in one step and printed in the next."""

from artiflow import FlowSpec, step


class HelloFlow(FlowSpec):
    """Say hello."""

    @step
    def start(self):
        """Store a message: every self.<name> becomes an artifact."""
        self.message = "Hello"
        self.next(self.end)

    @step
    def end(self):
        """Read it back from the previous step."""
        print(self.message)


if __name__ == "__main__":
    HelloFlow()
