"""@secrets from an inline source and from an environment variable holding JSON."""

import os

from artiflow import FlowSpec, secrets, step


class SecretsFlow(FlowSpec):
    @secrets(sources=[{"type": "inline", "id": "one", "options": {"env_vars": {"API_KEY": "k-123"}}},
                      "env.DB_CREDENTIALS"])
    @step
    def start(self):
        self.seen = [os.environ.get("API_KEY"), os.environ.get("DB_PASSWORD")]
        self.next(self.end)

    @step
    def end(self):
        self.in_end = os.environ.get("API_KEY")


if __name__ == "__main__":
    SecretsFlow()
