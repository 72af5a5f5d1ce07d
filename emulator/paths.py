"""Where the emulator's page templates and static files are: `ui/` in a checkout, `emulator/ui` when installed."""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
UI_DIR = _PACKAGE / "ui" if (_PACKAGE / "ui").is_dir() else _PACKAGE.parent / "ui"
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"
