"""File and folder names as murad writes them (``murad predict``, an external set's checks): any name a Linux file
system holds, as printable text.

A name on Linux is bytes (anything but ``/`` and NUL); Python holds the bytes that are not UTF-8 as lone surrogates
(``os.fsdecode``). What murad writes (``worklist.csv``, ``images.csv``, ``worklist.html``, its messages) shows each
name by :func:`shown`, which is unambiguous and one line:

- ``\\\\`` a backslash;
- ``\\xNN`` a byte of a name that is not UTF-8 (NN from 80 to ff), or an ASCII control character (NN below 20, or 7f:
  a carriage return is ``\\x0d``, a line feed ``\\x0a``);
- ``\\uNNNN`` any other character that is not printable (C1 controls, U+2028, ...);
- every other character as itself (``röntgen.png`` written in UTF-8 stays ``röntgen.png``).

:func:`original` turns a shown name back into the bytes of the file system: ``os.fsdecode(original(text))`` is the
path to open.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _shown_character(character: str) -> str:
    code = ord(character)
    if character == "\\":
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if character.isprintable() or character == " ":
        return character
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown(name: str) -> str:
    """``name`` (as ``os.fsdecode`` gives it) as one line of printable text, unambiguously (the module docstring)."""
    if name.isprintable() and "\\" not in name:
        return name
    return "".join(_shown_character(character) for character in name)


def original(text: str) -> bytes:
    """The file system's bytes of a name :func:`shown` wrote."""
    out, position = bytearray(), 0
    for match in _ESCAPE.finditer(text):
        out += text[position : match.start()].encode("utf-8", "surrogateescape")
        escape = match.group(1)
        if escape == "\\":
            out += b"\\"
        elif escape[0] == "x" and int(escape[1:], 16) >= 0x80:
            out.append(int(escape[1:], 16))
        else:
            out += chr(int(escape[1:], 16)).encode("utf-8", "surrogateescape")
        position = match.end()
    out += text[position:].encode("utf-8", "surrogateescape")
    return bytes(out)
