import os

import pandas as pd
from metaflow import FlowSpec, step


def train_model(df):
    """A tiny model: the mean of each numeric column."""
    return df.mean(numeric_only=True).to_dict()


class TrainCSVFlow(FlowSpec):

    @step
    def start(self):
        self.next(self.prepare_data)

    @step
    def prepare_data(self):
        self.df = pd.read_csv(os.environ.get("DATA_CSV", "data.csv"))  # <- df becomes an artifact
        self.next(self.train)

    @step
    def train(self):
        model = train_model(self.df)  # <- df is available here
        self.model = model            # <- model is a new artifact
        self.next(self.end)

    @step
    def end(self):
        print(self.model)

if __name__ == '__main__':
    TrainCSVFlow()
