"""GraphQL responses as XML: a lossless, documented mapping from the JSON response.

Clients that cannot take JSON (ERP and EDI systems, mostly) ask for ``application/xml`` and get
the same response, member for member. The mapping, which README's "Response formats" repeats:

- The document is UTF-8 with an XML declaration, no DTD and no namespaces. The root element
  ``<response>`` is the response object (``data``, ``errors``, ``extensions``).
- An object member becomes an element named by its key, in the object's order. A key that is
  not a plain XML name (``[A-Za-z_][A-Za-z0-9_.-]*``, not starting with ``xml``) becomes
  ``<field name="the key">``; one holding characters XML cannot carry is written as a JSON
  string literal, with ``name-encoding="json"``. A plain ``<field>`` has no ``name``.
- An object's members are child elements; an empty object is ``<key type="object"/>``.
- A list is ``<key type="list">`` with one ``<item>`` child per value, in order; items follow
  these same rules (a list in a list is ``<item type="list">``).
- ``null`` is ``<key nil="true"/>``.
- ``true``/``false`` are text, with ``type="boolean"``; a number is its JSON text, with
  ``type="number"``.
- A string is the element's text, escaped (``&amp;``, ``&lt;``, ``&gt;``; a carriage return as
  ``&#13;`` so parsers keep it). A string holding characters XML 1.0 cannot carry (control
  characters, lone surrogates, U+FFFE, U+FFFF) is written as its ASCII JSON string literal,
  with ``encoding="json"``.

Reading back: ``nil`` gives null; ``type`` gives list, object, number or boolean; otherwise an
element with child elements is an object and one without is a string. So every JSON value has
exactly one XML form and back, which the tests check for arbitrary values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["XML_MEDIA_TYPE", "to_xml"]

XML_MEDIA_TYPE = "application/xml"

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
# Parsers normalise white space in attribute values, so tab and newlines go by reference.
_ATTRIBUTE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)


def to_xml(response: Mapping[str, Any]) -> bytes:
    """The GraphQL response as an XML document, by the mapping in this module's docstring."""
    parts = [_DECLARATION]
    _write(parts, "<response", "</response>", response)
    return "".join(parts).encode()


@lru_cache(maxsize=1024)
def _tag(key: str) -> tuple[str, str]:
    """The opening (without its ``>``) and the closing tag for an object member ``key``.

    Cached: a list of a thousand products repeats the same few keys a thousand times."""
    if _PLAIN_NAME.match(key) and key[:3].lower() != "xml":
        return f"<{key}", f"</{key}>"
    if _NOT_IN_XML.search(key):
        return f'<field name="{json.dumps(key).translate(_ATTRIBUTE)}" name-encoding="json"', (
            "</field>"
        )
    return f'<field name="{key.translate(_ATTRIBUTE)}"', "</field>"


def _write(parts: list[str], opening: str, closing: str, value: Any) -> None:
    if value is None:
        parts.append(f'{opening} nil="true"/>')
    elif value is True or value is False:
        parts.append(f'{opening} type="boolean">{"true" if value else "false"}{closing}')
    elif isinstance(value, str):
        if _NOT_IN_XML.search(value):
            parts.append(f'{opening} encoding="json">{json.dumps(value).translate(_TEXT)}{closing}')
        else:
            parts.append(f"{opening}>{value.translate(_TEXT)}{closing}")
    elif isinstance(value, int):
        parts.append(f'{opening} type="number">{int.__repr__(value)}{closing}')
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON form, so no XML form either")
        parts.append(f'{opening} type="number">{float.__repr__(value)}{closing}')
    elif isinstance(value, Mapping):
        if value:
            parts.append(f"{opening}>")
            for key, member in value.items():
                _write(parts, *_tag(key), member)
            parts.append(closing)
        else:
            parts.append(f'{opening} type="object"/>')
    elif isinstance(value, list | tuple):
        parts.append(f'{opening} type="list">')
        for item in value:
            _write(parts, "<item", "</item>", item)
        parts.append(closing)
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")
