"""The labels cutman puts on what it plans (Triggers, their Services' subscriptions).

Apart from `planning` (which re-exports them), so the cluster adapters and the
housekeeping schedule can name them without importing the resource models.
"""

from __future__ import annotations

MANAGED_BY = "cutman"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_NAMESPACE = "cutman.dev/namespace"
LABEL_WORKFLOW = "cutman.dev/workflow"
LABEL_ROLE = "cutman.dev/role"
