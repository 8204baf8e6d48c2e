"""pipelines.lib.patterns: a trie alternation matches what the plain alternation matches."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib.patterns import trie_alternation


def test_shared_prefixes_are_factored_and_longer_words_come_first():
    assert trie_alternation(["seven", "seventeen", "seventy"]) == "seven(?:t(?:een|y))?"
    assert trie_alternation([]) == "(?!x)x"
    # tokens render through the given function: a separator token, characters escaped
    pattern = trie_alternation([("a", "SEP", "b"), ("a", ".")], lambda t: r"\s*" if t == "SEP" else re.escape(t))
    assert re.fullmatch(pattern, "a  b") and re.fullmatch(pattern, "a.") and not re.fullmatch(pattern, "ax")


words = st.lists(st.text(alphabet="abc-", min_size=1, max_size=5), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(words=words, text=st.text(alphabet="abc- ", max_size=60))
def test_trie_finds_the_same_matches_as_the_longest_first_alternation(words, text):
    plain = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    for wrap in (r"\b(?:{})\b", r"(?:{})(?![\w])", "(?:{})"):
        expected = [m.span() for m in re.finditer(wrap.format(plain), text)]
        got = [m.span() for m in re.finditer(wrap.format(trie_alternation(set(words))), text)]
        assert got == expected
