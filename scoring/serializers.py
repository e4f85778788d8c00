"""API input built from the schema, so the API accepts exactly what the file loader accepts."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from ml import schema
from ml.schema import Column, Kind

_CONTROL = re.compile(schema.CONTROL_CHARACTERS)


def _no_control_characters(value: str) -> None:
    if _CONTROL.search(value):
        raise serializers.ValidationError("Line breaks and other control characters are not allowed.")


class TextField(serializers.CharField):
    """Text only (DRF's CharField would also take a number), read as the file loader reads it.

    Surrounding blanks are trimmed, the file format's missing markers (``NULL``; ``#DIV/0!`` for zip
    prefixes) mean missing, and control characters are refused: the same applicant gets the same
    values through the API as in a file.
    """

    def __init__(self, *, missing_markers: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.missing_markers = missing_markers
        self.validators.append(_no_control_characters)

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str) and data.strip() in self.missing_markers:
            data = None
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class _JSONNumber:
    """Numbers only: DRF's numeric fields would also take "12" or true."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class NumberField(_JSONNumber, serializers.FloatField):
    pass


class WholeNumberField(_JSONNumber, serializers.IntegerField):
    pass


class CodeField(serializers.ChoiceField):
    """One of the schema's codes, as text; numeric codes (``PAYMENT_DAY``: ``"10"``) may also come as integers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numeric = all(str(choice).isdigit() for choice in self.choices)

    def to_internal_value(self, data: Any) -> str:
        if self.numeric and isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


def _code_field(column: Column, options: dict[str, Any]) -> CodeField:
    field = CodeField(choices=list(column.allowed), **options)
    text = {"type": "string", "enum": list(column.allowed)}
    schema_ = (
        {"oneOf": [text, {"type": "integer", "enum": [int(c) for c in column.allowed]}]} if field.numeric else text
    )
    # drf-spectacular annotates a field instance as it does a class (its hint allows callables only).
    annotate = extend_schema_field({**schema_, "nullable": column.nullable, "description": column.description})
    return annotate(field)  # type: ignore[type-var]


def _whole(bound: float | None) -> int | None:
    """A whole-number input's bound, which the schema writes as a whole number."""
    return None if bound is None else int(bound)


def _field(column: Column) -> serializers.Field:
    options: dict[str, Any] = {
        "help_text": column.description,
        "required": not column.nullable,
        "allow_null": column.nullable,
    }
    if column.kind is Kind.INTEGER:
        return WholeNumberField(min_value=_whole(column.minimum), max_value=_whole(column.maximum), **options)
    if column.is_numeric:
        return NumberField(min_value=column.minimum, max_value=column.maximum, **options)
    if column.kind is Kind.CATEGORY:
        return _code_field(column, options)
    field = TextField(
        max_length=schema.TEXT_MAX_LENGTH,
        allow_blank=column.nullable,
        trim_whitespace=True,
        missing_markers=schema.MISSING_TOKENS + column.missing_tokens,
        **options,
    )
    # Blanks around the text are trimmed before any check, so the pattern lets them be.
    pattern = rf"^\s*[^{schema.CONTROL_CHARACTERS[1:-1]}]*\s*$"
    text = {"type": "string", "maxLength": schema.TEXT_MAX_LENGTH, "pattern": pattern}
    annotate = extend_schema_field({**text, "nullable": column.nullable, "description": column.description})
    return annotate(field)  # type: ignore[type-var]  # a field instance, as above


@functools.cache
def _applicant_fields() -> dict[str, serializers.Field]:
    fields = {column.name: _field(column) for column in schema.INPUT_COLUMNS[1:]}
    fields[schema.ID_COLUMN] = WholeNumberField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=10**12,
        help_text="The caller's own id for the applicant (optional)",
    )
    return fields


class ApplicantInputSerializer(serializers.Serializer):
    """One applicant's fields, named as in the data; unknown names are refused."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # Built once, then copied: building 53 fields was a fifth of a web request's CPU. A shallow
        # copy is enough, since validation never changes a field (DRF binds each copy to this serializer).
        return {name: copy.copy(field) for name, field in _applicant_fields().items()}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object of applicant fields."]})
        errors: dict[str, Any] = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors = {**exc.detail, **errors} if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        if errors:
            raise serializers.ValidationError(errors)
        return values
