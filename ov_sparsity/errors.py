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


LOW_SPACE = 1 << 20  # free bytes under which a failed write is put down to a full disk


def write_failure(path, exc: BaseException) -> str:
    """Why writing `path` failed, in words: the OS's reason, or, where the library gives none (OpenVINO's
    serializer says 'basic_ios::clear: iostream error'), a full disk when the file system has almost no room."""
    import errno
    import os

    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.strerror or errno.errorcode.get(exc.errno, str(exc))
    folder = os.path.dirname(os.path.abspath(str(path)))
    try:
        info = os.statvfs(folder)
        if info.f_bavail * info.f_frsize < LOW_SPACE:
            return "No space left on device"
    except OSError:
        pass
    return ov_error_text(exc)


WRITE_ERRNOS = ("ENOSPC", "EDQUOT", "EROFS", "EIO", "EFBIG")  # a failed write the user can act on
