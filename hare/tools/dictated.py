"""E-mail addresses said aloud, read as typed before the tool model sees the request.

A voice keyboard writes "send an email to tomasz dot wojcik at outlook dot com"; the model was trained on typed
addresses, and the grammar offers `send_email` only when the request holds one (an address is never made up),
so that request became a text to "tomasz dot wojcik at outlook dot com" (the sixth hand-written set). Spoken
phone numbers are read by `surface.SPOKEN_PHONE`; an address is read here, once, as the user meant it:
"tomasz.wojcik@outlook.com". It is read only where it can be nothing else: words, " at ", a domain ending in a
top-level domain after "dot", in a request that speaks of mail ("e-mail", "mail", "address") — so "meet me at the
office" stays, and so does a site said aloud, "what's trending at bbc dot com".
"""

from __future__ import annotations

import re

# Top-level domains people say: the generic ones, and country codes common in addresses.
_TLDS = ("com", "org", "net", "edu", "gov", "io", "co", "info", "biz", "me", "app", "dev", "ai", "us", "uk", "ca",
         "au", "nz", "ie", "de", "fr", "es", "it", "nl", "be", "ch", "at", "se", "no", "dk", "fi", "pl", "pt", "br",
         "mx", "ar", "in", "jp", "kr", "cn", "sg", "za", "ru", "tr", "gr", "cz", "il", "ae")
_SPOKEN = {"dot": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
# A part holds no character that joins parts, so a run of words splits into parts one way only (with "-" in both,
# "a-a-a-…-a at x" had 2^n splits to try before failing: 2.6 s for n = 10), and a local part starts only where no
# join comes before it (else "a dot a dot … a" was scanned again from each of its words).
_PART = r"[A-Za-z0-9+]+"
_SAID_JOIN = rf" ({'|'.join(_SPOKEN)}) "
_JOIN = rf"(?:{_SAID_JOIN}|[._\-])"
_ADDRESS = re.compile(
    rf"(?<![\w@.'’\-]){''.join(f'(?<! {word} )' for word in _SPOKEN)}(?P<local>{_PART}(?:{_JOIN}{_PART})*) at "
    rf"(?P<domain>{_PART}(?:{_JOIN}{_PART})*(?: dot |\.)(?:{'|'.join(_TLDS)}))(?![\w@\-]|\.\w)",
    re.IGNORECASE)
_MAIL = re.compile(r"\b(?:e-?mail|mail|address)(?:s|ed|ing)?\b", re.IGNORECASE)


def addresses(query: str) -> str:
    """The request with every e-mail address said aloud written as typed; one without any, unchanged."""

    def typed(m: re.Match[str]) -> str:
        if not _MAIL.search(query[:m.start()] + query[m.end():]):
            return m.group()
        local, domain = (re.sub(_SAID_JOIN, lambda w: _SPOKEN[w.group(1).lower()], m.group(part), flags=re.IGNORECASE)
                         for part in ("local", "domain"))
        return f"{local}@{domain}"

    return _ADDRESS.sub(typed, query)
