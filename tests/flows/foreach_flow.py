"""Foreach, nested foreach, foreach_stack, and a static branch inside a foreach."""

from artiflow import FlowSpec, step


class ForeachFlow(FlowSpec):
    @step
    def start(self):
        self.letters = ["a", "b", "c"]
        self.top_index = self.index
        self.next(self.outer, foreach="letters")

    @step
    def outer(self):
        self.letter = self.input
        self.numbers = [1, 2]
        self.next(self.inner, foreach="numbers")

    @step
    def inner(self):
        self.stack = [(i, n, v) for i, n, v in self.foreach_stack()]
        self.word = f"{self.letter}{self.input}"
        self.my_index = self.index
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "L"
        self.next(self.side_join)

    @step
    def right(self):
        self.side = "R"
        self.next(self.side_join)

    @step
    def side_join(self, inputs):
        self.sides = [i.side for i in inputs]
        self.word = inputs[0].word
        self.stack = inputs[0].stack
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.words = [i.word for i in inputs]
        self.letter_here = self.input
        self.stack = inputs[0].stack
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.all_words = [w for i in inputs for w in i.words]
        self.stacks = [i.stack for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(" ".join(self.all_words))


if __name__ == "__main__":
    ForeachFlow()
