"""The credentials file Rasa actually gets: `credentials.yml` minus the channels that are not set up.

Rasa fails on an unset `${VAR}` in credentials.yml, and a Telegram or Slack section without a token
fails at startup. So a section that interpolates variables is kept only when every one of them has
a value in `Settings.channel_environment()`; Rasa itself fills in the values from its environment
(`Settings.rasa_environment()`), so no secret is written to disk.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import yaml

from bot.settings import Settings

logger = logging.getLogger(__name__)
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def section_variables(section: Any) -> list[str]:
    """The `${VAR}` names a credentials section uses, in order of appearance."""
    return list(dict.fromkeys(_VARIABLE.findall(json.dumps(section))))


def effective_credentials(settings: Settings, source: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(sections to give Rasa, {left-out channel: its unset variables})."""
    values = settings.channel_environment()
    kept: dict[str, Any] = {}
    left_out: dict[str, list[str]] = {}
    for channel, section in (yaml.safe_load(source.read_text()) or {}).items():
        names = section_variables(section)
        unknown = [name for name in names if name not in values]
        if unknown:
            raise ValueError(f"{source}: {channel} uses {', '.join(unknown)}, which bot/settings.py "
                             f"does not provide (known: {', '.join(sorted(values))})")
        missing = [name for name in names if not values[name]]
        if missing:
            left_out[channel] = missing
        else:
            kept[channel] = section
    return kept, left_out


def write_effective_credentials(settings: Settings, source: Path) -> Path:
    """Write the effective credentials under `var/` and return its path (for `rasa run`)."""
    kept, left_out = effective_credentials(settings, source)
    for channel, missing in left_out.items():
        logger.info("Channel %s is off: set %s to enable it.", channel, ", ".join(missing))
    target = settings.var_dir / "credentials.effective.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"# Written by bot/channels/credentials.py from {source}; do not edit.\n"
                      + yaml.safe_dump(kept, sort_keys=False))
    return target
