"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class OvSparsityError(Exception):
    """A problem with the user's input (model, data, config, output path)."""
