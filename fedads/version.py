"""The one version string every FedAds program reports (`--version`)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fedads")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"
