"""Tag rules and tag changes of a run: what a valid tag is, and remove-then-add in one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..exceptions import NotFound, TaggingError

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord

MAX_TAG_LENGTH = 500
MAX_USER_TAGS = 50


def validate_tag(tag: Any, where: str) -> str:
    """The tag itself when it is a non-empty str of at most 500 characters; TaggingError otherwise."""
    if isinstance(tag, bytes):
        raise TaggingError(f"Tag {tag!r} for run {where} is bytes; a tag is a str: decode it first, "
                           f"e.g. tag.decode('utf-8').")
    if not isinstance(tag, str):
        raise TaggingError(f"Tag {tag!r} for run {where} is a {type(tag).__name__}; a tag is a str, "
                           f"e.g. str({tag!r}).")
    if not tag:
        raise TaggingError(f"An empty tag cannot be given to run {where}: a tag has 1 to {MAX_TAG_LENGTH} "
                           f"characters.")
    if len(tag) > MAX_TAG_LENGTH:
        raise TaggingError(f"Tag {tag[:40]!r}... for run {where} has {len(tag)} characters; the most is "
                           f"{MAX_TAG_LENGTH}. Use a shorter tag.")
    try:
        tag.encode("utf-8")
    except UnicodeError:
        raise TaggingError(f"Tag {tag!r} for run {where} cannot be encoded as UTF-8 (it holds a lone "
                           f"surrogate); use a valid Unicode string.") from None
    return tag


def tag_list(tags: Any, what: str, where: str) -> list[str]:
    """Tags given as an iterable of str (a single str is refused: it would be read letter by letter)."""
    if isinstance(tags, (str, bytes)):
        raise TaggingError(f"{what} for run {where} must be a list of tags, not the single tag {tags!r}: "
                           f"write [{tags!r}], or use the singular method (add_tag, remove_tag, replace_tag).")
    try:
        items = list(tags)
    except TypeError:
        raise TaggingError(f"{what} for run {where} must be a list of tags, not a {type(tags).__name__}.") from None
    return [validate_tag(tag, where) for tag in items]


def one_or_many(tag: Any) -> Any:
    """A single tag as a one-tag list; a list as it is (Metaflow's singular methods accept both)."""
    return [tag] if isinstance(tag, (str, bytes)) or not _iterable(tag) else tag


def _iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True


def mutate(meta: MetadataStore, run_row: RunRecord, remove: Iterable[str], add: Iterable[str]) -> None:
    """Remove `remove`, then add `add`, to the run's user tags; updates the run's record with the result.

    Removing a system tag is refused (nothing changes); adding a tag that is a system tag, or
    removing a tag the run does not have, does nothing, as on Metaflow.
    """
    where = run_row.pathspec
    to_remove = tag_list(remove, "The tags to remove", where)
    to_add = tag_list(add, "The tags to add", where)
    if not to_remove and not to_add:
        raise TaggingError(f"No tag to add or remove was given for run {where}: give at least one tag.")

    def check(user: list[str], system: list[str]) -> None:
        protected = sorted(set(to_remove) & set(system))
        if protected:
            raise TaggingError(f"Cannot remove {', '.join(protected)} from run {where}: "
                               f"{'it is a system tag' if len(protected) == 1 else 'they are system tags'}, "
                               f"set by artiflow; only user tags ({', '.join(user) or 'none yet'}) can be removed. "
                               f"Nothing was changed.")
        after = (set(user) - set(to_remove)) | (set(to_add) - set(system))
        if len(after) > MAX_USER_TAGS and len(after) > len(user):
            raise TaggingError(f"Run {where} would have {len(after)} user tags; the most is {MAX_USER_TAGS}. "
                               f"Remove some tags first. Nothing was changed.")

    result = meta.mutate_run_tags(run_row.flow, run_row.run_id, to_remove, to_add, check)
    if result is None:
        raise NotFound(f"Run {where} does not exist any more, so its tags cannot be changed.")
    run_row.tags, run_row.system_tags = result
