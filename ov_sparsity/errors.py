"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class OvSparsityError(Exception):
    """A problem with the user's input (model, data, config, output path)."""


def ov_error_text(exc: BaseException, limit: int = 300) -> str:
    """The cause in an OpenVINO exception text, without its 'Exception from src/...' and
    'Check ... failed at src/...' location lines."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    cause = [line for line in lines if not line.startswith("Exception from ")
             and not (line.startswith("Check '") and " failed at " in line)]
    text = " ".join(cause or lines) or type(exc).__name__
    return text[:limit]
