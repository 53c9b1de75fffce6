"""The secret values of a loaded config, registered for log redaction when it loads.

Secret: every ``SecretStr`` field (connection passwords and keys, webhook and DingTalk
secrets, ...), the value of every secret-named key (an ``Authorization`` header), every
password inside a URL, and every ``${NAME}`` value marked secret: by its name (holding
SECRET, PASSW, TOKEN, KEY, CREDENTIAL, AUTH or PRIVATE) or by coming from ``NAME_FILE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from filerelay.config.envsubst import references
from filerelay.config.loader import LoadedConfig
from filerelay.redaction import SECRET_NAME, secrets_in


def config_secrets(loaded: LoadedConfig, env: Mapping[str, str] | None = None) -> set[str]:
    """Every secret value of ``loaded`` (see the module docstring)."""
    return secrets_in(loaded.model) | marked_env_values(loaded.text, env)


def marked_env_values(text: str, env: Mapping[str, str] | None = None) -> set[str]:
    """The values of the ``${NAME}`` references in ``text`` that are marked secret."""
    env = os.environ if env is None else env
    found: set[str] = set()
    for name in references(text):
        if name in env:
            if SECRET_NAME.search(name):
                found.add(env[name])
        elif f"{name}_FILE" in env:
            try:
                found.add(Path(env[f"{name}_FILE"]).read_text().rstrip("\n"))
            except OSError:  # the loader reported it already
                continue
    return found
