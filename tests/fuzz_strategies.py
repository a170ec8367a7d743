"""Strategies the two fuzzers share: selections that go through fragments (chains in which every fragment
spreads the next one several times, inline fragments, the same field selected many times) and strings
nobody types on purpose (control characters, U+0000, lone surrogates as JSON carries them: "\\ud800").

A selection is built from `parts`: selections of one object type (`id`, `incident { title id }`) that
merge with each other however often they appear (no response key stands for two different fields), so
that the documents stay valid and the server has to answer them, not refuse them at validation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from hypothesis import Phase
from hypothesis import strategies as st

# Levels of a chain of fragments that each spread the next one two or three times: 3**29 paths to the
# same fields. The regular path expanded every spread again (issue 12: 20 levels took 26 s, 40 never
# answered); should that come back, FUZZ_FAN_OUT_DEPTH=12 keeps a run short while it is fixed.
FAN_OUT_DEPTH = int(os.environ.get("FUZZ_FAN_OUT_DEPTH", "30"))

# The server's per-selection-set bound on one response name (schema/limits.py MAX_SAME_FIELD): the
# duplicates mostly stay under it and sometimes go past it, to be refused alike everywhere.
SAME_FIELD = 20

# A failure is reported at once, with the example that failed; FUZZ_SHRINK=1 minimises it first
# (which reruns it hundreds of times: slow while a known bug is open).
PHASES = tuple(p for p in Phase if p is not Phase.shrink or os.environ.get("FUZZ_SHRINK") == "1")


# --- strings -------------------------------------------------------------------------------------------

AWKWARD_PIECES = [
    "\x00",
    "a\x00b",
    "\x00" * 3,
    "\ud800",  # a lone high surrogate
    "\udfff",  # a lone low surrogate
    "\ude00\ud83d",  # a pair in the wrong order
    "\ud83d",  # half of an emoji
    "\x01\x02\x1f",
    "\x7f\x80\x9f",
    "\x1b[31m",
    "\r\n\t\x0b\x0c",
    "\u2028\u2029",
    "\ufeff",
    "\ufffe\uffff",
    "%\x00_",
    "\\\x00",
]
_CHARACTERS = st.one_of(
    st.characters(categories=["Cc"]),  # U+0000-U+001F, U+007F-U+009F
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(codec="utf-8"),
)


def awkward(known: Sequence[str]) -> st.SearchStrategy[str]:
    """Strings with control characters, U+0000 and lone surrogates: alone, arbitrary, or put into one of
    the `known` strings (so that a filter could still match a prefix of real data)."""
    inserted = st.tuples(
        st.sampled_from(list(known)), st.sampled_from(AWKWARD_PIECES), st.integers(0, 40)
    ).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :])
    return st.one_of(st.sampled_from(AWKWARD_PIECES), st.text(_CHARACTERS, max_size=12), inserted)


def json_body(value: Any) -> bytes:
    """A JSON request body as a client sends it: non-ASCII escaped, so lone surrogates go as "\\ud800"
    (httpx's own encoder writes UTF-8 and cannot encode them)."""
    return json.dumps(value).encode("ascii")


# --- selections through fragments -----------------------------------------------------------------------


@st.composite
def duplicated(draw: st.DrawFn, parts: Sequence[str]) -> str:
    """`parts` each selected one to three times, shuffled; now and then one of them more often than the
    server allows in one selection set."""
    chosen = [p for p in parts for _ in range(draw(st.integers(1, 3)))]
    if draw(st.integers(0, 14)) == 0:
        chosen += [draw(st.sampled_from(list(parts)))] * draw(st.integers(SAME_FIELD - 2, SAME_FIELD + 4))
    return " ".join(draw(st.permutations(chosen)))


@st.composite
def through_fragments(
    draw: st.DrawFn, type_name: str, parts: Sequence[str], prefix: str = "F"
) -> tuple[str, str]:
    """`parts` of a `type_name` selection, selected through fragments: the selection and the fragment
    definitions to append to the document (fragment names start with `prefix`, unique per document).

    Either duplicates, nested inline fragments, or a chain F0 → F1 → … in which each fragment spreads the
    next `fan` times (directly, inside inline fragments, or under `@include(if: true)`), the last one
    holding the parts: `fan ** levels` paths to the same fields, which a server must merge, not walk.
    """
    shape = draw(st.sampled_from(["chain", "chain", "chain", "duplicates", "inline"]))
    if shape == "duplicates":
        return draw(duplicated(parts)), ""
    if shape == "inline":
        body = draw(duplicated(parts))
        for _ in range(draw(st.integers(1, 4))):
            body = draw(st.sampled_from([f"... on {type_name} {{ {body} }}", f"... {{ {body} }}"]))
        return body + " " + draw(duplicated(parts[:1])), ""
    levels = draw(st.one_of(st.integers(1, 4), st.integers(1, FAN_OUT_DEPTH)))
    fan = draw(st.integers(2, 3))
    # Inline fragments and a level's own parts count again at every path (the server's bound on one
    # response name sees them so): at a few levels only, or nearly every document would be refused.
    inline_levels = draw(st.sets(st.integers(0, levels - 1), max_size=2))
    own_levels = draw(st.sets(st.integers(0, levels - 1), max_size=2))
    definitions = []
    for level in range(levels):
        name, following = f"{prefix}{level}", f"{prefix}{level + 1}"
        if level == levels - 1:
            body = draw(duplicated(parts))
        else:
            forms = [
                f"...{following}",
                f"...{following} @include(if: true)",
                f"...{following} @skip(if: false)",
            ]
            if level in inline_levels:
                forms = [f"... on {type_name} {{ ...{following} }}", f"... {{ ...{following} }}"]
            spreads = [draw(st.sampled_from(forms)) for _ in range(fan)]
            # The same field through many paths: selected here and again in the fragments below.
            own = draw(st.lists(st.sampled_from(list(parts)), max_size=2)) if level in own_levels else []
            body = " ".join(draw(st.permutations([*spreads, *own])))
        definitions.append(f"fragment {name} on {type_name} {{ {body} }}")
    top = " ".join([f"...{prefix}0"] * draw(st.integers(1, 2)))
    return top, " " + " ".join(definitions)
