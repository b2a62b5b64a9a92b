"""The analysts' review web app (``adwatch serve``): FastAPI with server-rendered Jinja2 pages and a
JSON API under ``/api/``. Build it with :func:`webapp.app.create_app`."""

from webapp.app import create_app
from webapp.settings import InsecureSecretError, WebSettings

__all__ = ["InsecureSecretError", "WebSettings", "create_app"]
