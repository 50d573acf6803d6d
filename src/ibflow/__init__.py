"""ibflow: chart-reading, LLM-assisted trading strategies against Interactive Brokers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ibflow")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
