"""The review app's errors, in one place. Each message names the input that caused it."""

from __future__ import annotations


class WebappError(Exception):
    """Base class of the review app's errors."""


class InsecureSecretError(WebappError, RuntimeError):
    """The session secret is missing or a placeholder and the app is not in development mode."""


class NotFound(WebappError, LookupError):
    """No ad (or review item) with the given id."""


class BadInput(WebappError, ValueError):
    """A request value is invalid (unknown decision, reason code, status, cursor...)."""


class UserError(WebappError, ValueError):
    """A user name, role or password is not acceptable."""
