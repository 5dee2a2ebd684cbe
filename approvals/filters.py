from __future__ import annotations

from typing import Any

import django_filters

from approvals.models import Environment, PromotionRequest
from kernel.forms import style_uswds


class PromotionRequestFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PromotionRequest.Status.choices)
    environment = django_filters.ModelChoiceFilter(
        queryset=Environment.objects.all(), to_field_name="name"
    )
    model = django_filters.CharFilter(
        field_name="version__model__name", lookup_expr="icontains", label="Model"
    )

    class Meta:
        model = PromotionRequest
        fields = ("status", "environment", "model")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_uswds(self.form)
