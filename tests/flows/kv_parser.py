"""A config parser named by its dotted path (`parser="kv_parser.parse"`): `a=1,b=2` → {"a": "1", "b": "2"}."""


def parse(text: str) -> dict:
    return dict(item.split("=", 1) for item in text.strip().split(",") if item)
