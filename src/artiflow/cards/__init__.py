"""Cards: HTML reports of tasks (`@card`), the components a step adds, and reading them back.

    from artiflow import card, current
    from artiflow.cards import Markdown, Table, Image, get_cards

Also importable as `metaflow.cards` (and `metaflow.plugins.cards.*`). Names load on first use, so
using @card costs only the decorator until a card is rendered.
"""

from .._lazy import lazy_exports

__all__ = [
    "Artifact", "BlankCard", "Card", "CardContainer", "CardNotPresentException", "DefaultCard", "Error",
    "ErrorCard", "Image", "Markdown", "MetaflowCard", "MetaflowCardComponent", "MetricsChart", "ProgressBar", "Table",
    "VegaChart", "card", "get_cards", "register_card",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".base": ("MetaflowCard", "MetaflowCardComponent"),
        ".builtin": ("BlankCard", "DefaultCard", "ErrorCard"),
        ".client": ("Card", "CardContainer", "get_cards"),
        ".components": ("Artifact", "Error", "Image", "Markdown", "ProgressBar", "Table", "VegaChart"),
        ".decorator": ("card",),
        ".exceptions": ("CardNotPresentException",),
        ".metrics_view": ("MetricsChart",),
        ".registry": ("register_card",),
    },
    submodules=("base", "builtin", "client", "components", "decorator", "exceptions", "registry", "testing"),
)
del lazy_exports
