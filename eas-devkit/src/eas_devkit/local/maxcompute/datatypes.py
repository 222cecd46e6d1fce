"""MaxCompute column types: parsing type names, checking values, and storing them in SQLite.

Each MaxCompute type is stored in a SQLite column whose declared type gives the right affinity, so that SQL
compares and aggregates values as MaxCompute would: integers and booleans as INTEGER, ``double``/``float``
as REAL, ``decimal`` as NUMERIC, strings as TEXT, and ``datetime``/``date``/``timestamp`` as ISO-8601 TEXT
(which sorts chronologically and compares with string literals, as MaxCompute's implicit casts allow).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Optional

INTEGER_RANGES = {
    "tinyint": 2**7,
    "smallint": 2**15,
    "int": 2**31,
    "bigint": 2**63,
}
SIMPLE_TYPES = frozenset([*INTEGER_RANGES, "double", "float", "boolean", "string", "datetime", "date",
                          "timestamp", "decimal"])
MAX_DECIMAL_PRECISION = 38
_PARAMETERISED = re.compile(r"(decimal|varchar|char)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_DECIMAL_CONTEXT = Context(prec=2 * MAX_DECIMAL_PRECISION)  # room for any decimal(38, s), rounded
_TRUE = frozenset(["true", "1"])
_FALSE = frozenset(["false", "0"])


@dataclass(frozen=True)
class ColumnType:
    """A parsed MaxCompute type: ``name`` is the canonical spelling (``decimal(10,2)``, ``varchar(32)``)."""

    name: str
    base: str
    precision: Optional[int] = None  # decimal precision, or varchar/char length
    scale: Optional[int] = None

    @property
    def sqlite_declaration(self) -> str:
        """The declared type of the SQLite column: what gives the storage its affinity."""
        if self.base in INTEGER_RANGES or self.base == "boolean":
            return "INTEGER"
        if self.base in ("double", "float"):
            return "REAL"
        if self.base == "decimal":
            return "NUMERIC"
        return "TEXT"

    @property
    def is_integer(self) -> bool:
        return self.base in INTEGER_RANGES

    def __str__(self) -> str:
        return self.name


@lru_cache(maxsize=256)
def parse_type(text: str) -> ColumnType:
    """``"BIGINT"`` -> bigint, ``"Decimal(10, 2)"`` -> decimal(10,2). Raises ValueError for anything else."""
    spelled = " ".join(str(text).lower().split())
    if spelled in SIMPLE_TYPES:
        if spelled == "decimal":  # MaxCompute 2.0's decimal without arguments is decimal(38,18)
            return ColumnType("decimal(38,18)", "decimal", MAX_DECIMAL_PRECISION, 18)
        return ColumnType(spelled, spelled)
    match = _PARAMETERISED.fullmatch(spelled)
    if match is not None:
        base, first, second = match.group(1), int(match.group(2)), match.group(3)
        if base == "decimal":
            scale = int(second) if second is not None else 0
            if not 1 <= first <= MAX_DECIMAL_PRECISION or scale > first:
                raise ValueError(f"invalid type {text!r}: decimal(precision, scale) needs "
                                 f"1 <= precision <= {MAX_DECIMAL_PRECISION} and scale <= precision")
            return ColumnType(f"decimal({first},{scale})", "decimal", first, scale)
        if second is None and first >= 1:
            return ColumnType(f"{base}({first})", base, first)
    supported = ", ".join(sorted(SIMPLE_TYPES | {"decimal(p,s)", "varchar(n)", "char(n)"}))
    raise ValueError(f"unsupported type {text!r}; supported: {supported}")


def to_storage(value: Any, column_type: ColumnType) -> Any:
    """``value`` (a Python value, or text as in a CSV file) as stored in SQLite; ValueError if it does not fit."""
    if value is None:
        return None
    base = column_type.base
    if base in INTEGER_RANGES:
        number = _integer(value)
        limit = INTEGER_RANGES[base]
        if not -limit <= number < limit:
            raise ValueError(f"{number} is out of range for {base}")
        return number
    if base in ("double", "float"):
        return _float(value)
    if base == "decimal":
        return str(_decimal(value, column_type))
    if base == "boolean":
        return int(_boolean(value))
    if base in ("string", "varchar", "char"):
        text = _text(value)
        if column_type.precision is not None and len(text) > column_type.precision:
            raise ValueError(f"{len(text)} characters is too long for {column_type}")
        return text
    if base == "date":
        return _date(value).isoformat()
    if base == "datetime":  # MaxCompute keeps milliseconds
        moment = _datetime(value)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat(sep=" ")
    if base == "timestamp":
        return _datetime(value).isoformat(sep=" ")
    raise ValueError(f"unsupported type {column_type}")


def from_storage(value: Any, column_type: ColumnType) -> Any:
    """The Python value pyodps uses for a stored value: int, float, Decimal, bool, str, datetime or date."""
    if value is None:
        return None
    base = column_type.base
    if base in INTEGER_RANGES:
        return int(value)
    if base in ("double", "float"):
        return float(value)
    if base == "decimal":
        return _decimal(value, column_type)
    if base == "boolean":
        return bool(value)
    if base == "date":
        return date.fromisoformat(str(value))
    if base in ("datetime", "timestamp"):
        return datetime.fromisoformat(str(value))
    return str(value)


def infer_type(values: list[Any]) -> ColumnType:
    """The type of a computed SQL result column, from the SQLite values it holds (all NULL: string)."""
    kinds = {type(value) for value in values if value is not None}
    if kinds and kinds <= {int}:
        return ColumnType("bigint", "bigint")
    if kinds and kinds <= {int, float}:
        return ColumnType("double", "double")
    return ColumnType("string", "string")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
    raise ValueError(f"{value!r} is not an integer")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a number")


def _decimal(value: Any, column_type: ColumnType) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a decimal")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal")
    if column_type.scale is not None:
        number = number.quantize(Decimal(1).scaleb(-column_type.scale), context=_DECIMAL_CONTEXT)
        integer_digits = len(number.as_tuple().digits) - column_type.scale
        if column_type.precision is not None and integer_digits > column_type.precision - column_type.scale:
            raise ValueError(f"{value!r} does not fit {column_type}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"{value!r} is not a boolean (true or false)")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("bytes that are not UTF-8 cannot be a string") from None
    raise ValueError(f"{value!r} is not a string")


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is a datetime, not a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # MaxCompute's datetime has no zone: keep the local wall-clock time
            value = value.astimezone().replace(tzinfo=None)
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?", text):
            try:
                return datetime.fromisoformat(_pad_fraction(text.replace("T", " ")))
            except ValueError:
                pass
    raise ValueError(f"{value!r} is not a datetime (YYYY-MM-DD HH:MM:SS)")


def _pad_fraction(text: str) -> str:
    """Python 3.9's fromisoformat() wants 3 or 6 fractional digits."""
    whole, dot, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(6, '0')}" if dot else whole


