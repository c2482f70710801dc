"""Render the README's pictures from a real /generate and a real /batch (a developer tool, not a test).

    python -m tools.render_docs_images                 # writes docs/images/*.png
    python -m tools.render_docs_images --html          # also keeps the HTML cards next to the PNGs

The bot is built exactly as the end-to-end tests build it (testing/botkit.py): config, job store, ComfyService,
JobManager and DiscomfyBot, logged in to the fake Discord API and talking to the fake ComfyUI, all on 127.0.0.1.
Only the fake ComfyUI's SaveImage node gets a nicer painter (a flat landscape drawn from the job's seed),
installed through the fake's node-behaviour API; what the bot does with the files is unchanged. The final
message each command left in the fake Discord (embed JSON, buttons, and the attached files as uploaded) is
drawn as a Discord-like card in HTML and screenshotted with headless Chromium. The batch's contact sheet is
also saved as the bot uploaded it.

Needs the dev requirements and Chromium (`apt-get install -y chromium`; the fonts-inter and
fonts-noto-color-emoji packages bring the cards closer to Discord's look).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import io
import logging
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image, ImageChops, ImageDraw

from testing import comfy_nodes
from testing.botkit import start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

log = logging.getLogger("render_docs_images")

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
USERNAME = "mira"
PROMPT = "a lighthouse on a cliff at dusk, calm sea, warm light"
GENERATE = {"prompt": PROMPT, "size": "landscape", "steps": 28, "cfg": 6.5, "seed": "20240606"}
BATCH = {"prompt": PROMPT, "count": 4, "size": "landscape", "steps": 20, "seed": "20240611"}
STEP_DELAY = 0.12  # seconds per sampler step in the fake, so "Took" reads like a real run
CARD_WIDTH = 780
MAX_PNG_BYTES = 400 * 1024
BACKGROUND = (49, 51, 56)  # Discord's dark theme, #313338


# ---- a nicer SaveImage for the fake ComfyUI ------------------------------------------------------------

# sky top, sky middle, horizon, sun, far ridges, sea, land
PALETTES = (
    ((24, 28, 74), (122, 64, 132), (250, 158, 104), (255, 226, 160), (92, 62, 120), (38, 44, 92), (16, 14, 30)),
    ((14, 34, 70), (46, 96, 150), (242, 190, 130), (255, 240, 200), (70, 96, 140), (24, 56, 96), (10, 20, 34)),
    ((40, 20, 60), (180, 70, 90), (255, 176, 92), (255, 232, 170), (120, 56, 88), (60, 30, 70), (20, 10, 24)),
    ((10, 22, 48), (30, 70, 110), (120, 190, 190), (240, 250, 230), (40, 80, 110), (16, 44, 70), (6, 16, 26)),
)
Colour = tuple[int, int, int]
Point = tuple[float, float]


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    t = min(1.0, max(0.0, t))
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def _ridge(rng: random.Random, width: float, base: float, rough: float, points: int = 9) -> list[Point]:
    """A natural skyline by midpoint displacement."""
    xs = [width * i / (points - 1) for i in range(points)]
    ys = [base + rng.uniform(-rough, rough) for _ in xs]
    for _ in range(5):
        rough *= 0.5
        nxs, nys = [xs[0]], [ys[0]]
        for i in range(1, len(xs)):
            nxs += [(xs[i - 1] + xs[i]) / 2, xs[i]]
            nys += [(ys[i - 1] + ys[i]) / 2 + rng.uniform(-rough, rough), ys[i]]
        xs, ys = nxs, nys
    return list(zip(xs, ys, strict=True))


def _gradient(draw: ImageDraw.ImageDraw, width: int, rows: range, colour_at: Any) -> None:
    for y in rows:
        draw.line([(0, y), (width, y)], fill=colour_at(y))


def paint_landscape(width: int, height: int, seed: int) -> Image.Image:
    """A flat-style lighthouse at dusk; the seed picks the palette and every shape."""
    rng = random.Random(seed)
    top, mid, horizon, sun, far, sea, land = PALETTES[seed % len(PALETTES)]
    scale = 2  # drawn at twice the size, then shrunk: smooth edges
    w, h = width * scale, height * scale
    image = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(image)
    sea_y = round(h * rng.uniform(0.6, 0.68))
    _gradient(draw, w, range(sea_y), lambda y: _sky(y / sea_y, top, mid, horizon))
    for _ in range(60):
        x, y, r = rng.uniform(0, w), rng.uniform(0, sea_y * 0.45), rng.choice((1, 1, 2)) * scale
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_mix(top, (255, 255, 255), rng.uniform(0.5, 0.9)))
    sun_r = h * rng.uniform(0.06, 0.09)
    sun_at = (w * rng.uniform(0.25, 0.75), sea_y - h * 0.13 - sun_r * rng.uniform(0.2, 1.4))
    _sun(image, sun_at, sun_r, sun)
    draw = ImageDraw.Draw(image)
    for layer in range(3):
        base = sea_y - h * (0.12 - layer * 0.035)
        colour = _mix(_mix(far, horizon, 0.45 - layer * 0.2), land, layer * 0.3)
        draw.polygon([(0, sea_y), *_ridge(rng, w, base, h * (0.06 - layer * 0.012)), (w, sea_y)], fill=colour)
    _gradient(draw, w, range(sea_y, h), lambda y: _mix(_mix(horizon, sea, 0.55), sea, (y - sea_y) / (h - sea_y) * 1.6))
    for _ in range(90):
        y = rng.uniform(sea_y + 2 * scale, h * 0.98)
        depth = (y - sea_y) / (h - sea_y)
        half = sun_r * (0.9 + depth * 1.6) * rng.uniform(0.2, 1.0)
        x = sun_at[0] + rng.gauss(0, sun_r * 0.35 * (1 + depth))
        width_px = max(1, round((1 + depth * 3) * scale * 0.7))
        draw.line([(x - half, y), (x + half, y)], fill=_mix(sun, sea, 0.25 + depth * 0.5), width=width_px)
    _lighthouse(image, rng, sea_y, left=sun_at[0] > w / 2, land=land, light=sun)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _sky(t: float, top: Colour, mid: Colour, horizon: Colour) -> Colour:
    return _mix(top, mid, t / 0.6) if t < 0.6 else _mix(mid, horizon, (t - 0.6) / 0.4)


def _sun(image: Image.Image, at: Point, radius: float, colour: Colour) -> None:
    glow = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(glow)
    x, y = at
    for k in range(8, 0, -1):
        r = radius * (1 + k * 0.35)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(*colour, 14))
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(*colour, 255))
    image.paste(glow, (0, 0), glow)


def _lighthouse(image: Image.Image, rng: random.Random, sea_y: int, *, left: bool, land: Colour, light: Colour) -> None:
    """A cliff on the side away from the sun, a striped tower on it and its beam over the sea."""
    w, h = image.size
    cliff_w = w * rng.uniform(0.26, 0.33)
    edge = _ridge(rng, cliff_w, sea_y - h * rng.uniform(0.1, 0.16), h * 0.02, points=5)
    if not left:
        edge = [(w - x, y) for x, y in edge]
    side, foot = (0, cliff_w * 1.12) if left else (w, w - cliff_w * 1.12)
    tower_x = cliff_w * 0.55 if left else w - cliff_w * 0.55
    ground = min(y for x, y in edge if abs(x - tower_x) < cliff_w * 0.2) + 8
    tall, wide = h * 0.2, w * 0.04
    lamp_y, reach = ground - tall - wide * 0.55, (w * 0.9 if left else -w * 0.9)
    beam = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(beam).polygon(
        [(tower_x, lamp_y), (tower_x + reach, lamp_y - h * 0.12), (tower_x + reach, lamp_y + h * 0.05)],
        fill=(*light, 46),
    )
    image.paste(beam, (0, 0), beam)
    draw = ImageDraw.Draw(image)
    draw.polygon([(side, h), (side, edge[0][1]), *edge, (foot, h)], fill=land)

    def band(lower: float, upper: float, colour: Colour) -> None:  # a slice of the tapering tower
        y0, y1 = ground - tall * upper, ground - tall * lower
        f0, f1 = 1 - upper * 0.28, 1 - lower * 0.28
        quad = [(tower_x - wide / 2 * f1, y1), (tower_x - wide / 2 * f0, y0)]
        draw.polygon([*quad, (tower_x + wide / 2 * f0, y0), (tower_x + wide / 2 * f1, y1)], fill=colour)

    band(0, 1, (236, 232, 226))
    for k in range(1, 4):
        band(k / 4 - 1 / 9, k / 4, (196, 58, 54))
    top = ground - tall
    draw.rectangle([tower_x - wide * 0.5, top - 4, tower_x + wide * 0.5, top + 6], fill=(30, 28, 36))
    draw.rectangle([tower_x - wide * 0.3, top - wide * 0.8, tower_x + wide * 0.3, top - 4], fill=(255, 236, 170))
    roof = [
        (tower_x - wide * 0.42, top - wide * 0.8),
        (tower_x, top - wide * 1.35),
        (tower_x + wide * 0.42, top - wide * 0.8),
    ]
    draw.polygon(roof, fill=(30, 28, 36))


async def painted_save_image(run: comfy_nodes.NodeRun) -> comfy_nodes.NodeResult:
    """The fake's SaveImage (same file naming, same UI answer), with a landscape for pixels."""
    frames = comfy_nodes.as_image(run.inputs.get("images"))
    prefix = str(run.inputs.get("filename_prefix", "ComfyUI"))
    folder, name, counter, subfolder = await asyncio.to_thread(
        comfy_nodes.get_save_image_path, prefix, run.engine.output_dir
    )
    results = []
    for index in range(max(1, frames.count)):
        filename = f"{name}_{counter:05}_.png"
        picture = await asyncio.to_thread(paint_landscape, frames.width, frames.height, frames.seed + index)
        buffer = io.BytesIO()
        picture.save(buffer, "PNG", optimize=True)
        await run.engine.write_output_file(folder / filename, buffer.getvalue())
        results.append({"filename": filename, "subfolder": subfolder, "type": "output"})
        counter += 1
    return comfy_nodes.NodeResult((), {"images": results})


# ---- the run --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shot:
    """One command and the final message it left in the fake Discord, with the attached files' bytes."""

    command: str
    interaction: dict[str, Any]
    message: dict[str, Any]
    files: dict[str, bytes]  # attachment url -> bytes as uploaded


async def run_commands(workdir: Path) -> list[Shot]:
    """A real /generate and a real /batch through the bot, against the loopback fakes."""
    async with (
        FakeDiscordAPI(keep_file_bytes=64 * 1024 * 1024) as discord_api,
        FakeComfy(step_delay=STEP_DELAY, output_dir=workdir / "comfy_output") as comfy,
    ):
        save_image = comfy.catalog["SaveImage"]
        comfy.add_node_class("SaveImage", save_image.schema, painted_save_image)
        with discord_api.patched():
            async with start_bot(discord_api, comfy, workdir) as kit:
                shots = []
                for name, options in (("generate", GENERATE), ("batch", BATCH)):
                    interaction = await kit.command(name, options, username=USERNAME)
                    await kit.settle(timeout=120)
                    message = kit.message(interaction)
                    shots.append(Shot(name, interaction, message, await _download(message)))
                    log.info("/%s: final message %s with %d file(s)", name, message["id"], len(shots[-1].files))
                return shots


async def _download(message: dict[str, Any]) -> dict[str, bytes]:
    """Every attachment from the fake Discord's CDN, which serves the bytes the bot uploaded."""
    files = {}
    async with aiohttp.ClientSession() as session:
        for attachment in message.get("attachments", []):
            async with session.get(attachment["url"]) as response:
                response.raise_for_status()
                files[attachment["url"]] = await response.read()
    return files


# ---- Discord-like HTML ------------------------------------------------------------------------------------

CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #313338; color: #dbdee1; width: %(width)dpx;
  font: 16px/1.375 "Inter", "Noto Sans", "DejaVu Sans", sans-serif, "Noto Color Emoji"; }
.msg { display: grid; grid-template-columns: 56px 1fr; padding: 8px 20px 18px 16px; }
.used { grid-column: 2; display: flex; align-items: center; gap: 6px; font-size: 14px; color: #949ba4;
  margin-bottom: 4px; position: relative; }
.used::before { content: ""; position: absolute; left: -36px; top: 9px; width: 28px; height: 12px;
  border: 2px solid #4e5058; border-right: 0; border-bottom: 0; border-top-left-radius: 6px; }
.used .mini { width: 16px; height: 16px; border-radius: 50%%; background: #f0b232; }
.used b { color: #dbdee1; font-weight: 500; }
.used .cmd { color: #00a8fc; }
.avatar { width: 40px; height: 40px; border-radius: 50%%; background: linear-gradient(135deg, #5865f2, #eb459e);
  display: grid; place-items: center; color: #fff; font-weight: 700; font-size: 15px; margin-top: 2px; }
.head { display: flex; align-items: baseline; gap: 6px; }
.name { color: #f2f3f5; font-weight: 600; }
.app { background: #5865f2; color: #fff; font-size: 10px; font-weight: 600; padding: 1px 5px; border-radius: 4px;
  position: relative; top: -2px; }
.time { color: #949ba4; font-size: 12px; }
.mosaic { display: grid; grid-template-columns: 1fr 1fr; gap: 4px; max-width: 520px; margin-top: 6px;
  border-radius: 8px; overflow: hidden; }
.mosaic img { width: 100%%; aspect-ratio: 3 / 2; object-fit: cover; display: block; }
.embed { max-width: 520px; margin-top: 6px; background: #2b2d31; border-radius: 4px; border-left: 4px solid;
  padding: 8px 16px 16px 12px; }
.title { color: #f2f3f5; font-weight: 600; font-size: 16px; margin-top: 8px; }
.desc { font-size: 14px; margin-top: 8px; }
.quote { border-left: 4px solid #4e5058; border-radius: 4px; padding: 0 8px 0 12px; }
.fields { display: grid; grid-template-columns: repeat(12, 1fr); column-gap: 8px; margin-top: 8px; }
.field { font-size: 14px; line-height: 1.125rem; margin-top: 8px; min-width: 0; }
.field .n { color: #f2f3f5; font-weight: 600; margin-bottom: 2px; }
.field .v { white-space: pre-wrap; overflow-wrap: anywhere; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; background: #1e1f22; padding: 1px 3px;
  border-radius: 4px; }
.mention { background: rgba(88, 101, 242, .3); color: #c9cdfb; border-radius: 3px; padding: 0 2px; font-weight: 500; }
.image { margin-top: 16px; }
.image img { max-width: 400px; max-height: 400px; border-radius: 4px; display: block; }
.footer { font-size: 12px; margin-top: 8px; color: #dbdee1; }
.rows { margin-top: 4px; }
.row { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
.btn { height: 32px; padding: 2px 14px; border-radius: 8px; display: inline-flex; align-items: center; gap: 6px;
  font-size: 14px; font-weight: 500; color: #fff; }
.btn .emoji { font-size: 16px; line-height: 1; }
.s1 { background: #5865f2; } .s2 { background: #4e5058; } .s3 { background: #248046; } .s4 { background: #da373c; }
"""
_INLINE = re.compile(r"(`[^`]+`|<@!?\d+>|\*\*[^*]+\*\*)")


def _markdown(text: str, users: dict[int, str]) -> str:
    """Enough of Discord's markdown for the bot's embeds: `code`, <@mentions>, **bold**."""
    parts = []
    for token in _INLINE.split(text):
        if token.startswith("`") and token.endswith("`") and len(token) > 1:
            parts.append(f"<code>{html.escape(token[1:-1])}</code>")
        elif token.startswith("<@"):
            user_id = int(token.strip("<@!>"))
            parts.append(f'<span class="mention">@{html.escape(users.get(user_id, "unknown-user"))}</span>')
        elif token.startswith("**") and token.endswith("**") and len(token) > 3:
            parts.append(f"<b>{html.escape(token[2:-2])}</b>")
        else:
            parts.append(html.escape(token))
    return "".join(parts).replace("\n", "<br>")


def _field_columns(fields: list[dict[str, Any]]) -> list[str]:
    """Discord's layout: up to three inline fields share a row; any other field takes a row of its own."""
    spans: list[str] = []
    row: list[int] = []

    def flush() -> None:
        width = 12 // len(row)
        spans.extend(f"{1 + i * width} / {1 + (i + 1) * width}" for i in range(len(row)))
        row.clear()

    for index, field in enumerate(fields):
        if field.get("inline") and len(row) < 3:
            row.append(index)
            continue
        if row:
            flush()
        if field.get("inline"):
            row.append(index)
        else:
            spans.append("1 / 13")
    if row:
        flush()
    return spans


def _data_uri(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        mime = Image.MIME.get(image.format or "PNG", "image/png")
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _embed_html(embed: dict[str, Any], files: dict[str, bytes], users: dict[int, str]) -> str:
    parts = [f'<div class="embed" style="border-color: #{embed.get("color", 0x1E1F22):06x}">']
    if embed.get("title"):
        parts.append(f'<div class="title">{_markdown(embed["title"], users)}</div>')
    if description := embed.get("description"):
        if description.startswith(">>> "):
            parts.append(f'<div class="desc quote">{_markdown(description[4:], users)}</div>')
        else:
            parts.append(f'<div class="desc">{_markdown(description, users)}</div>')
    fields = embed.get("fields", [])
    if fields:
        parts.append('<div class="fields">')
        for field, span in zip(fields, _field_columns(fields), strict=True):
            name, value = _markdown(field["name"], users), _markdown(field["value"], users)
            parts.append(f'<div class="field" style="grid-column: {span}"><div class="n">{name}</div>')
            parts.append(f'<div class="v">{value}</div></div>')
        parts.append("</div>")
    if (image := embed.get("image")) and image.get("url") in files:
        parts.append(f'<div class="image"><img src="{_data_uri(files[image["url"]])}"></div>')
    if footer := (embed.get("footer") or {}).get("text"):
        parts.append(f'<div class="footer">{html.escape(footer)}</div>')
    parts.append("</div>")
    return "".join(parts)


def _buttons_html(components: list[dict[str, Any]]) -> str:
    rows = []
    for row in components:
        buttons = []
        for button in row.get("components", []):
            emoji = (button.get("emoji") or {}).get("name")
            emoji_html = f'<span class="emoji">{html.escape(emoji)}</span>' if emoji else ""
            label = html.escape(button.get("label") or "")
            buttons.append(f'<span class="btn s{button.get("style", 2)}">{emoji_html}{label}</span>')
        rows.append(f'<div class="row">{"".join(buttons)}</div>')
    return f'<div class="rows">{"".join(rows)}</div>' if rows else ""


def message_html(shot: Shot) -> str:
    """The message as Discord's desktop client shows it in the dark theme (an approximation, not a capture)."""
    message, interaction = shot.message, shot.interaction
    user = interaction["member"]["user"]
    users = {int(user["id"]): user["username"]}
    embeds = message.get("embeds", [])
    in_embeds = {(e.get("image") or {}).get("url") for e in embeds}
    gallery = [a for a in message.get("attachments", []) if a["url"] not in in_embeds and a["url"] in shot.files]
    stamp = datetime.fromisoformat(message["timestamp"]).strftime("%H:%M")
    body = [
        f'<div class="used"><span class="mini"></span><b>{html.escape(user["username"])}</b> used '
        f'<span class="cmd">/{html.escape(shot.command)}</span></div>',
        '<div class="avatar">DC</div><div>',
        f'<div class="head"><span class="name">{html.escape(message["author"]["username"])}</span>'
        f'<span class="app">APP</span><span class="time">Today at {stamp}</span></div>',
    ]
    if gallery:
        images = "".join(f'<img src="{_data_uri(shot.files[a["url"]])}">' for a in gallery)
        body.append(f'<div class="mosaic">{images}</div>')
    body += [_embed_html(embed, shot.files, users) for embed in embeds]
    body += [_buttons_html(message.get("components", [])), "</div>"]
    page = f'<!doctype html><meta charset="utf-8"><style>{CSS % {"width": CARD_WIDTH}}</style>'
    return page + f'<div class="msg">{"".join(body)}</div>'


# ---- screenshots --------------------------------------------------------------------------------------------


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("Chromium not found: apt-get install -y chromium")


def screenshot(page: Path, out: Path, *, chromium: str, height: int = 2400) -> None:
    """Headless Chromium draws the page; the empty space below the card is cut off."""
    with tempfile.TemporaryDirectory(prefix="render-docs-chromium-") as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            "--force-device-scale-factor=1", f"--user-data-dir={profile}", f"--screenshot={out}",
            f"--window-size={CARD_WIDTH},{height}", page.as_uri(),
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    with Image.open(out) as shot:
        image = shot.convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, BACKGROUND)).getbbox()
    if box is None:
        raise SystemExit(f"{out}: Chromium drew an empty page")
    save_png(image.crop((0, 0, image.width, min(image.height, box[3] + 16))), out)


def save_png(image: Image.Image, out: Path) -> None:
    """Lossless when that is small enough for a README, else 256 colours."""
    image.save(out, "PNG", optimize=True)
    if out.stat().st_size > MAX_PNG_BYTES:
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
            out, "PNG", optimize=True
        )
    log.info("Wrote %s (%dx%d, %d KB)", _shown(out), *image.size, out.stat().st_size // 1024)


def save_contact_sheet(shot: Shot, out: Path) -> None:
    """The batch's contact sheet exactly as the bot uploaded it."""
    (sheet,) = [a for a in shot.message["attachments"] if a["filename"].startswith("contact_sheet")]
    out.write_bytes(shot.files[sheet["url"]])
    with Image.open(out) as image:
        size = out.stat().st_size // 1024
        log.info("Wrote %s (%s %dx%d, %d KB)", _shown(out), image.format, *image.size, size)
    if out.stat().st_size > MAX_PNG_BYTES:
        log.warning("%s is over %d KB", out.name, MAX_PNG_BYTES // 1024)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render_docs_images", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs (default: docs/images)")
    parser.add_argument("--html", action="store_true", help="keep the HTML cards next to the PNGs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discomfy").setLevel(logging.ERROR)  # e.g. "flux_dev does not fit the fake server"
    log.setLevel(logging.INFO)
    chromium = find_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="render-docs-") as temp:
        shots = asyncio.run(run_commands(Path(temp)))
        names = {"generate": "generate_done", "batch": "batch_contact_sheet"}
        for shot in shots:
            page = (args.out if args.html else Path(temp)) / f"{names[shot.command]}.html"
            page.write_text(message_html(shot), encoding="utf-8")
            screenshot(page, args.out / f"{names[shot.command]}.png", chromium=chromium)
        save_contact_sheet(shots[1], args.out / "contact_sheet.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
