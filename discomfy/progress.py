"""Text progress bars shared by the terminal and the Discord embeds."""

from __future__ import annotations

FILLED = "▰"
EMPTY = "▱"


def progress_bar(value: int, maximum: int, *, width: int = 12) -> str:
    """`▰▰▰▰▱▱▱ 12/20`: a bar that stays readable in a terminal and in an embed."""
    if maximum <= 0:
        return f"{EMPTY * width} {value}/?"
    value = max(0, min(value, maximum))
    filled = round(width * value / maximum)
    return f"{FILLED * filled}{EMPTY * (width - filled)} {value}/{maximum}"
