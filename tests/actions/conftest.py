"""The fake cluster of ``test_kubernetes_actions`` for every test of this folder."""

from test_kubernetes_actions import kube  # noqa: F401  (a fixture)
