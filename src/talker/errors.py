"""Errors that carry a message meant for a person, not a traceback."""

from __future__ import annotations


class TalkerError(Exception):
    """A failure the user can act on: the message says what is wrong and what to do."""

    exit_code = 2


class InputError(TalkerError):
    """The user's input (text, file, option) cannot be used as given."""


class ModelMissingError(TalkerError):
    """A model of the offline kit is not assembled or its packages are not installed."""

    exit_code = 3


class BackendUnavailableError(TalkerError):
    """A backend's optional dependency is not installed."""

    exit_code = 3
