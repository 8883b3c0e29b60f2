"""Reading Agora's XML responses back, strictly, as a client in another language would.

``parse_strict`` refuses anything but a plain, well-formed UTF-8 document: no DTD, no entity
declarations, no processing instructions. ``from_xml`` is README's mapping read in reverse; a
response that round-trips through it is lossless.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET
from xml.parsers import expat

__all__ = ["from_xml", "parse_strict"]

_INTEGER = re.compile(r"-?[0-9]+")
_ATTRIBUTES = {"nil", "type", "encoding", "name", "name-encoding"}


def parse_strict(body: bytes) -> ET.Element:
    """The document's root, after expat has checked that it declares UTF-8 and has no DTD."""

    def refuse(*_: object) -> None:
        raise AssertionError("the document carries a DTD, an entity or a processing instruction")

    declared: list[str | None] = []
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = refuse
    checker.EntityDeclHandler = refuse
    checker.ProcessingInstructionHandler = refuse
    checker.XmlDeclHandler = lambda _version, encoding, _standalone: declared.append(encoding)
    checker.Parse(body, True)
    assert declared == ["UTF-8"], declared
    body.decode("utf-8")  # strictly valid UTF-8, not just what expat tolerates
    return ET.fromstring(body)  # noqa: S314 - checked above: no DTD, no entities


def from_xml(element: ET.Element) -> Any:
    """The JSON value an element stands for."""
    assert set(element.attrib) <= _ATTRIBUTES, element.attrib
    if element.get("nil") == "true":
        assert not element.text and not len(element)
        return None
    kind = element.get("type")
    return _untyped(element) if kind is None else _TYPED[kind](element)


def _list(element: ET.Element) -> list[Any]:
    assert all(child.tag == "item" for child in element)
    return [from_xml(child) for child in element]


def _empty_object(element: ET.Element) -> dict[str, Any]:
    assert not len(element)
    return {}


def _number(element: ET.Element) -> int | float:
    text = element.text or ""
    return int(text) if _INTEGER.fullmatch(text) else float(text)


def _boolean(element: ET.Element) -> bool:
    return {"true": True, "false": False}[element.text or ""]


_TYPED = {"list": _list, "object": _empty_object, "number": _number, "boolean": _boolean}


def _untyped(element: ET.Element) -> dict[str, Any] | str:
    """An object when it has child elements, otherwise a string."""
    if len(element):
        members = [(_key(child), from_xml(child)) for child in element]
        assert len({key for key, _ in members}) == len(members), "a key appears twice"
        return dict(members)
    text = element.text or ""
    return json.loads(text) if element.get("encoding") == "json" else text


def _key(element: ET.Element) -> str:
    name = element.get("name")
    if element.tag != "field" or name is None:
        return element.tag
    return json.loads(name) if element.get("name-encoding") == "json" else name
