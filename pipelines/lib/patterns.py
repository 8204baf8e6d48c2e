"""Regex alternations as tries: Python's `re` tries an alternation's branches one by one at
every position, so a list of 60 number words or 200 names costs 60 or 200 attempts per
character. Sharing prefixes ("seven|seventeen|seventy" → "seven(?:teen|ty)?") makes a failing
position cost one character class test. The match at any position is the same as the plain
alternation sorted longest first: at each node the longer continuations are tried before
the word ends there.
"""

import re
from collections.abc import Callable, Iterable

_END = ""


def trie_alternation(words: Iterable[tuple[str, ...] | str], render: Callable[[str], str] = re.escape) -> str:
    """A non-capturing regex matching any of `words`, each a string or a tuple of tokens;
    `render(token)` gives a token's regex (a character, escaped, by default)."""
    trie: dict = {}
    for word in words:
        node = trie
        for token in word:
            node = node.setdefault(token, {})
        node[_END] = {}
    return _render(trie, render) or "(?!x)x"


def _render(node: dict, render: Callable[[str], str]) -> str:
    branches = [render(token) + _render(child, render) for token, child in sorted(node.items()) if token != _END]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if _END in node else body
