from django.apps import AppConfig


class KernelConfig(AppConfig):
    """The shared kernel: settings helpers, roles and permissions, queues, form
    helpers, the panel/action registry and shared template tags. It imports no app."""

    name = "kernel"
    verbose_name = "govdash kernel"
