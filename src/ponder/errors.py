"""The one exception type users see: a bad input, stated in one line.

Anything raised as `PonderError` is printed by the CLI as `error: <message>` with exit code 2 and
no traceback. The message must name the field, file or line that is wrong.
"""


class PonderError(Exception):
    """A user-facing error: bad config, missing file, malformed input row."""


def first_line(e: BaseException) -> str:
    """What a library's exception says, in one line (for a PonderError quoting it)."""
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__
