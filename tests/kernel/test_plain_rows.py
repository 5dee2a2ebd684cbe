"""kernel.tables.PlainRowsTable: a table missing a column's cell function is
refused when it is defined, not with a 500 on the first page that shows it."""

from __future__ import annotations

import django_tables2 as tables
import pytest

from kernel.tables import EMPTY, PlainRowsTable, text


def test_a_column_without_its_cell_function_is_refused_at_definition():
    with pytest.raises(TypeError, match="cell_owner"):

        class Incomplete(PlainRowsTable):
            name = tables.Column()
            owner = tables.Column()

            def cell_name(self, record: object) -> str:
                return "x"

    class Complete(PlainRowsTable):
        name = tables.Column()

        def cell_name(self, record: object) -> str:
            return "x"

    assert [column.name for column in Complete([]).columns] == ["name"]


def test_text_escapes_and_dashes_empty_values():
    assert text("<b>&") == "&lt;b&gt;&amp;"
    assert text("") == EMPTY
    assert text(None) == EMPTY
