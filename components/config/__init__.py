"""Stack configuration: one registry of keys, read once, checked once, typed.

Each setting is one field of a section class (one module per section here, the top
level in `stack.py`): its stack config key is the field name in camelCase
(`spawner.mem_limit` is `spawner.memLimit` in `Pulumi.<stack>.yaml`), and `setting()`
(`registry.py`) gives its default, its one-line doc (the site's table, docs/reference/config.md, is generated
from these, `scripts/docs_reference.py`) and its bounds or check (`values.py`). The
parser (`loading.py`) walks the fields, so every key at every level is known, and
anything else is refused; then the checks across keys run (`checks.py`). A bad value
raises `ConfigError`, naming the key, the value and the fix, before any resource is
declared.
"""

from components.config.loading import load_config, parse_config
from components.config.logs import LogsConfig
from components.config.registry import ConfigError, set_command
from components.config.stack import StackConfig

__all__ = ["ConfigError", "LogsConfig", "StackConfig", "load_config", "parse_config", "set_command"]
