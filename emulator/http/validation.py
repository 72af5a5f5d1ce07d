"""Request validation with the platform's (yup's) casting rules and messages.

A schema checks one value at a path and appends messages to a list; SCHEMA_ERROR lists them all.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, Callable
from urllib.parse import urlparse

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "undefined"})()


def _print(value: Any) -> str:
    """A value as yup prints it in messages."""
    if value is MISSING:
        return "undefined"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bytes):
        return "{}"  # a binary body (application/octet-stream) is an ArrayBuffer there, which prints as {}
    if isinstance(value, (list, dict)):  # yup: JSON with 2-space indent, each string printed (quoted) once more
        return json.dumps(_printed_strings(value), indent=2)
    return json.dumps(value)


def _printed_strings(value: Any) -> Any:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return [_printed_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _printed_strings(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Schema:
    type_name = "mixed"

    def __init__(self, *, required: bool = False, nullable: bool = False, default: Any = MISSING,
                 one_of: tuple | None = None, test: Callable[[Any, str], str | None] | None = None):
        self.required, self.nullable, self.default, self.one_of, self.test = required, nullable, default, one_of, test

    def validate(self, value: Any, path: str, errors: list[str]) -> Any:
        if value is MISSING:
            if self.required:
                errors.append(f"{path} must be defined")
            return self.default
        if value is None:
            if not self.nullable:
                errors.append(f"{path} cannot be null")
            return None
        cast = self.cast(value)
        if cast is MISSING:
            errors.append(self.type_error(path, value))
            return MISSING
        message = self.check(cast, path)
        if message is None and self.one_of is not None and cast not in self.one_of:
            message = f"{path} must be one of the following values: {', '.join(map(_plain, self.one_of))}"
        if message is None and self.test is not None:
            message = self.test(cast, path)
        if message:  # one message, or a list where yup reports several failed tests of one value
            errors.extend(message if isinstance(message, list) else [message])
        return cast

    def type_error(self, path: str, value: Any) -> str:
        return f"{path} must be a `{self.type_name}` type, but the final value was: `{_print(value)}`."

    def cast(self, value: Any) -> Any:
        return value

    def check(self, value: Any, path: str) -> str | None:
        return None

    def json_schema(self) -> dict[str, Any]:
        """This schema in JSON Schema, for the OpenAPI document (what `check` and `test` add is not expressed)."""
        out = self.describe()
        if self.one_of is not None:
            out["enum"] = [*self.one_of, *([None] if self.nullable else [])]
        elif self.nullable and "type" in out:
            out["type"] = [out["type"], "null"]
        return out

    def describe(self) -> dict[str, Any]:
        return {} if self.type_name == "mixed" else {"type": self.type_name}


class Json(Schema):
    """Free-form JSON (metadata fields): anything goes, including null."""

    def __init__(self, **kw):
        kw.setdefault("nullable", True)
        super().__init__(**kw)


class Str(Schema):
    type_name = "string"

    def __init__(self, *, max_length: int | None = None, min_length: int | None = None, non_empty: bool = False,
                 pattern: str | None = None, pattern_message: str | None = None, **kw):
        super().__init__(**kw)
        self.max_length, self.min_length, self.non_empty = max_length, min_length, non_empty
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_message = pattern_message  # a schema's own message replaces yup's default, path and all

    def cast(self, value):
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return json.dumps(value)
        return MISSING

    def describe(self):
        out: dict[str, Any] = {"type": "string"}
        if self.min_length is not None or self.non_empty:
            out["minLength"] = max(self.min_length or 0, 1 if self.non_empty else 0)
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        if self.pattern:
            out["pattern"] = self.pattern.pattern
        return out

    def check(self, value, path):
        if self.non_empty and value == "":
            return f"{path} must not be empty"
        if self.min_length is not None and self.min_length == self.max_length and len(value) != self.max_length:
            return f"{path} must be exactly {self.max_length} characters"
        if self.min_length is not None and len(value) < self.min_length:
            return f"{path} must be at least {self.min_length} characters"
        if self.max_length is not None and len(value) > self.max_length:
            return f"{path} must be at most {self.max_length} characters"
        if self.pattern and not self.pattern.search(value):
            return self.pattern_message or f'{path} must match the following: "{self.pattern.pattern}"'
        return None


# yup's email pattern, and the stricter one sign-up uses.
_EMAIL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
_STRICT_EMAIL = re.compile(r"^[^.]+(\.[^.]+)*@.*\.[^.][^.]+$")


class Email(Str):
    def __init__(self, *, strict: bool = False, **kw):
        kw.setdefault("max_length", 256)
        super().__init__(**kw)
        self.strict = strict

    def describe(self):
        return {**super().describe(), "format": "email"}

    def check(self, value, path):
        message = super().check(value, path)
        if message:
            return message
        if not _EMAIL.match(value) or (self.strict and not _STRICT_EMAIL.match(value)):
            return f"{path} must be a valid email"
        return None


# What the platform's schemas (yup's string().uuid()) take: an RFC 4122 version 1-5 UUID, or the nil UUID.
_RFC_UUID = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
                       r"|00000000-0000-0000-0000-000000000000)$", re.IGNORECASE)


class Uuid(Str):
    def describe(self):
        return {**super().describe(), "format": "uuid"}

    def check(self, value, path):
        return None if _RFC_UUID.match(value) else f"{path} must be a valid UUID"


class Url(Str):
    def describe(self):
        return {**super().describe(), "format": "uri"}

    def check(self, value, path):
        problems = [f"{path} contains spaces"] if " " in value else []
        parsed = urlparse(value)
        if not parsed.scheme or not (parsed.netloc or parsed.scheme == "data") or " " in parsed.netloc:
            problems.append(f"{path} is not a valid URL")
        return problems or super().check(value, path)


class Base64(Str):
    def describe(self):
        return {**super().describe(), "contentEncoding": "base64"}

    def check(self, value, path):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"{path} is not valid base64"
        return None


class Bool(Schema):
    type_name = "boolean"

    def cast(self, value):
        if isinstance(value, bool):
            return value
        if value in ("true", "1", 1):
            return True
        if value in ("false", "0", 0):
            return False
        return MISSING


_FLOAT_MAX = 1.7976931348623157e308
_INT64_MAX = 2**63 - 1
_JS_NUMBER = re.compile(r"^[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$")


class Int(Schema):
    type_name = "number"

    def __init__(self, *, min_value: int | None = None, max_value: int | None = None, **kw):
        super().__init__(**kw)
        self.min_value, self.max_value = min_value, max_value

    def cast(self, value):
        if isinstance(value, bool):
            return MISSING
        if isinstance(value, int) and abs(value) > _FLOAT_MAX:
            return math.inf if value > 0 else -math.inf  # JavaScript reads such a number as +-Infinity
        if isinstance(value, (int, float)):
            return MISSING if value != value else value
        if isinstance(value, str) and _JS_NUMBER.match(value.strip()):
            return float(value.strip())  # Number(text): "1e999" and "Infinity" are infinite, "inf" and "nan" NaN
        return MISSING

    def describe(self):
        bounds = {"minimum": self.min_value, "maximum": self.max_value}
        return {"type": "integer", **{k: b for k, b in bounds.items() if b is not None}}

    def type_error(self, path, value):
        return f"{path} must be a `number` type, but the final value was: `NaN` (cast from the value `{_print(value)}`)."

    def check(self, value, path):
        if not math.isfinite(value) or value != int(value):
            return f"{path} must be an integer"
        if abs(value) > _INT64_MAX:
            return f"{path} must be between -{_INT64_MAX} and {_INT64_MAX}"  # what the store can hold
        if self.min_value is not None and value < self.min_value:
            return f"{path} must be greater than or equal to {self.min_value}"
        if self.max_value is not None and value > self.max_value:
            return f"{path} must be less than or equal to {self.max_value}"
        return None

    def validate(self, value, path, errors):
        out = super().validate(value, path, errors)
        return int(out) if isinstance(out, float) and math.isfinite(out) and out == int(out) else out


class Obj(Schema):
    type_name = "object"
    open_ended = False  # whether keys besides `fields` are accepted

    def describe(self):
        return {"type": "object", "properties": {k: s.json_schema() for k, s in self.fields.items()},
                "required": [k for k, s in self.fields.items() if s.required], "additionalProperties": self.open_ended}

    def __init__(self, fields: dict[str, Schema] | None = None, *,
                 when: tuple[str, Any, dict[str, Schema]] | None = None, **kw):
        """`when=(key, value, stricter)`: where the object's `key` is `value`, the `stricter` schemas replace those
        of the same fields (yup's `.when()`, e.g. fields required only for a `standard` type)."""
        super().__init__(**kw)
        self.fields = fields or {}
        self.when = when

    def cast(self, value):
        return value if isinstance(value, dict) else MISSING

    def validate(self, value, path, errors):
        out = super().validate(value, path, errors)
        if not isinstance(out, dict):
            return out
        unknown = [k for k in out if k not in self.fields]
        if unknown:
            errors.append(f"{path} contains unknown properties: {', '.join(unknown)}")
        fields = self.fields
        if self.when is not None and out.get(self.when[0]) == self.when[1]:
            fields = {**fields, **self.when[2]}
        result = {}
        for name, schema in fields.items():
            v = schema.validate(out.get(name, MISSING), f"{path}.{name}", errors)
            if v is not MISSING:
                result[name] = v
        return result


class Record(Schema):
    """An object of free keys (yupRecord); keys and values checked against their schemas when given (free-form
    otherwise), reported at the record's own path as the platform's validator does."""
    type_name = "object"

    def __init__(self, key: Schema | None = None, value: Schema | None = None, **kw):
        super().__init__(**kw)
        self.key, self.value = key, value

    def cast(self, value):
        return value if isinstance(value, dict) else MISSING

    def validate(self, value, path, errors):
        out = super().validate(value, path, errors)
        if isinstance(out, dict) and self.key is not None and self.value is not None:
            out = {self.key.validate(k, path, errors): self.value.validate(v, path, errors) for k, v in out.items()}
        return out


class Arr(Schema):
    type_name = "array"

    def __init__(self, item: Schema, **kw):
        super().__init__(**kw)
        self.item = item

    def cast(self, value):
        return value if isinstance(value, list) else MISSING

    def describe(self):
        return {"type": "array", "items": self.item.json_schema()}

    def validate(self, value, path, errors):
        out = super().validate(value, path, errors)
        if isinstance(out, list):
            out = [self.item.validate(v, f"{path}[{i}]", errors) for i, v in enumerate(out)]
        return out


_IMAGE_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp|avif|bmp|svg\+xml|x-icon|vnd\.microsoft\.icon)"
                             r";base64,([A-Za-z0-9+/]+={0,2})$")


def is_image_data_url(url: str) -> bool:
    """Clients may only upload images inline, as base64 data URLs of at most 1 MB."""
    match = _IMAGE_DATA_URL.match(url)
    if not match or len(url) > 1_000_000:
        return False
    try:
        return len(base64.b64decode(match.group(2), validate=True)) > 0
    except ValueError:
        return False


class Union(Schema):
    """yup's union of object schemas: the first that matches wins; else one error that lists each schema's
    messages, as yup orders them: missing fields, other field messages, unknown properties. `unknown_repeats`: an
    option built with yup's concat() reports its unknown properties once per object it was made of."""

    def __init__(self, *options: Obj, unknown_repeats: int = 1, **kw):
        super().__init__(**kw)
        self.options, self.unknown_repeats = options, unknown_repeats

    def validate(self, value, path, errors):
        if value is MISSING or value is None:
            return super().validate(value, path, errors)
        reports = []
        for option in self.options:
            found: list[str] = []
            out = option.validate(value, path, found)
            if not found:
                return out
            unknown = [e for e in found if " contains unknown properties: " in e]
            missing = [e for e in found if e.endswith(" must be defined")]
            others = [e for e in found if e not in unknown and e not in missing]
            reports.append(missing + others + unknown * self.unknown_repeats)
        errors.append(f"{path} is not matched by any of the provided schemas:\n" + "\n".join(
            f"  Schema {i}:\n" + "\n".join("    " + e.replace("\n", "\n    ") for e in report)
            for i, report in enumerate(reports)))
        return MISSING
