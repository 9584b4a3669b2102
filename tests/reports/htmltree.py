"""A tiny HTML tree for the report tests (the standard library's parser; no bs4/lxml in the environment)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"br", "meta", "link", "img", "input", "hr", "source", "col", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    def text(self) -> str:
        """All text inside this element."""
        return "".join(self.parts)

    def iter(self, tag: str | None = None, **attrs: str | None) -> Iterator[Node]:
        """Descendants (and self) with ``tag`` and the attributes (``None`` = present with any value)."""
        if (tag is None or self.tag == tag) and all(
                (k.replace("_", "-") in self.attrs) and (v is None or self.attrs[k.replace("_", "-")] == v)
                for k, v in attrs.items()):
            yield self
        for c in self.children:
            yield from c.iter(tag, **attrs)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        # Text is recorded on every open element, so node.parts holds the full text of its subtree.
        for node in self.stack[1:]:
            node.parts.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root

