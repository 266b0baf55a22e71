"""Reading the TOML files people write (site.toml, data.toml, catalog.toml) with one-line errors."""
from __future__ import annotations

import tomllib
from pathlib import Path


def read_toml(path: Path, what: str, error: type[Exception]) -> dict:
    """The parsed file; `error(...)` naming `what` and the file when it is missing or not TOML."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path} is not valid TOML: {exc}") from None
