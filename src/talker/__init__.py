"""talker: one portrait photo becomes an offline digital human."""

__version__ = "0.1.0"
