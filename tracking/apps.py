from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        from kernel.permissions import register
        from tracking.permissions import TABLE

        register(TABLE)
