"""Cards end to end: the default card, components, several cards per step, ids, custom types, failures."""

import os
import time

from artiflow import FlowSpec, Parameter, card, current, step
from artiflow.cards import (Artifact, Error, Image, Markdown, MetaflowCard, ProgressBar, Table, VegaChart,
                            register_card)

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


@register_card
class SlowCard(MetaflowCard):
    """Sleeps options["sleep"] seconds, then renders the pathspec."""

    type = "slow_card"

    def render(self, task):
        time.sleep(self.options.get("sleep", 5))
        return f"<p>slow {task.pathspec}</p>"


@register_card
class ArtifactCard(MetaflowCard):
    """Renders one artifact's value, read through the task it is given."""

    type = "artifact_card"

    def render(self, task):
        name = self.options["name"]
        return f"<p>{name}={task[name].data} in={name in task}</p>"


class CardFlow(FlowSpec):
    """A flow whose steps carry cards."""

    alpha = Parameter("alpha", default=0.5, help="a number")

    @card
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.big = b"\0" * 2_000_000   # too large to preview: shown by size, not loaded
        current.card.append(Markdown("# Report <b>bold?</b>\n\nSome *text* and `code`."))
        current.card.append(Table([[1, "two"], [3, Artifact({"k": [1, 2]})]], headers=["n", "v"]))
        current.card.append(Image(PNG, label="a pixel"))
        current.card.append(ProgressBar(max=10, value=4, label="epochs", unit="ep"))
        current.card.append(VegaChart({"mark": "line", "data": {"values": [{"x": 1, "y": 2}, {"x": 2, "y": 5}]},
                                       "encoding": {"x": {"field": "x", "type": "quantitative"},
                                                    "y": {"field": "y", "type": "quantitative"}}}))
        current.card.append(Error(ValueError("shown, not raised"), title="A handled error"))
        current.card.append("not a component")   # dropped with a warning, the step goes on
        self.next(self.middle)

    @card(type="blank", id="notes", options={"title": "Notes"})
    @card(type="artifact_card", id="value", options={"name": "items"})
    @card(type="test_pathspec_card")
    @step
    def middle(self):
        current.card["notes"].append(Markdown("notes for **middle**"))
        current.card["value"].append(Markdown("ignored by artifact_card"))
        current.card.append(Markdown("the only editable card is 'notes'"))
        current.card["missing"].append(Markdown("goes nowhere"))
        self.next(self.end)

    @card(id="summary")
    @card(type="test_error_card")
    @card(type="no_such_type")
    @card(type="slow_card", id="slow", timeout=1, options={"sleep": 30})
    @card(type="test_error_card", id="quiet", save_errors=False)
    @card(type="blank", id="bad-id")
    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    CardFlow()
