"""De-identified, labelled dataset exports with leak-free splits (``adwatch export``).

Public API: :func:`run_export` with :class:`ExportOptions` -> :class:`ExportResult`;
:func:`check_operator`; :func:`export.splits.assign_splits` (pure split logic);
:class:`export.deid.Deidentifier`; errors :class:`ExportError` and :class:`ExportRefused`.
Downstream of storage and scoring (crawler -> scoring -> storage -> review/export).
"""

from export.errors import ExportError, ExportRefused
from export.export import (
           EXPORT_ROLES,
           ExportOptions,
           ExportResult,
           check_operator,
           run_export,
)

__all__ = ["EXPORT_ROLES", "ExportError", "ExportOptions", "ExportRefused", "ExportResult", "check_operator",
           "run_export"]
