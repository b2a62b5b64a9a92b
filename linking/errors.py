"""The one error type of the ``linking`` package."""

from __future__ import annotations


class LinkingError(Exception):
    """Linking cannot proceed: stored signatures do not match the settings, or an id is unknown.

    The message names the input (setting, network or cluster id) and the way out.
    """
