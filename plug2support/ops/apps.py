from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running the product (L1–L3): the embedded `run`, `web`, `worker` and the demo."""

    name = "plug2support.ops"
    label = "ops"

    def ready(self) -> None:
        from plug2support.ops import checks  # noqa: F401 (registers the deploy checks)
