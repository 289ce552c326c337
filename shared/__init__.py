"""cutman: Alertmanager alerts to automated investigations, as Knative functions.

This package is what two or more functions share: models (the CRDs, alerts, runs),
core (pure decisions), adapters (Redis, the broker, the cluster) and runtime (local mode).
"""
