"""ragterm: an offline terminal chat assistant."""

__version__ = "0.1.0"
