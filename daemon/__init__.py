"""speckitd: approved spec-kit tasks in, reviewed pull requests out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("speckitd")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
