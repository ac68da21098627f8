"""Mistyped settings: a key nobody reads gets one warning naming it and the closest valid name.

It stays a warning (old configurations keep running). Pure (difflib only): the tap and the Keboola component,
which must not import singer-sdk to validate its configuration, both use it.
"""

from __future__ import annotations

import copy
import difflib
import typing as t

CUTOFF = 0.6  # difflib's default similarity: `pagesize` -> `page_size`, `date_form` -> `date_from`


def unknown_setting_warnings(given: t.Iterable[str], valid: t.Iterable[str], where: str = "") -> list[str]:
    """One message per key of `given` that is not in `valid`, in the order given: `unknown setting 'pagesize';
    did you mean 'page_size'?`. `where` prefixes the key and the suggestion (`advanced.`)."""
    names = list(dict.fromkeys(valid))
    known = set(names)
    messages = []
    for key in given:
        if key in known:
            continue
        close = difflib.get_close_matches(key, names, n=1, cutoff=CUTOFF) or difflib.get_close_matches(
            key.lower(), names, n=1, cutoff=CUTOFF
        )
        hint = f"; did you mean '{where}{close[0]}'?" if close else "; it is ignored"
        messages.append(f"unknown setting '{where}{key}'{hint}")
    return messages


def setting_names(plugin: t.Any) -> list[str]:
    """Every setting a singer-sdk plugin class reads: its own schema's and the SDK's built-in ones
    (`stream_maps`, `flattening_*`, `batch_config`, ...), as `--about` lists them."""
    schema = copy.deepcopy(plugin.config_jsonschema)
    plugin.append_builtin_config(schema)
    return list(schema.get("properties") or {})
