"""Node catalog and node behaviours of the fake ComfyUI server (:mod:`testing.comfy_server`).

Schemas follow ComfyUI 0.3.64's ``/object_info`` output: V1 nodes give combos as
``[["a", "b"], {...}]``, V3 nodes (``comfy_extras.nodes_video``) as ``["COMBO", {"options": [...]}]``.
The schemas of the nodes present in the recording (``KSampler``, ``SaveImage``, ``LoadImage``,
``SaveAnimatedWEBP``/``PNG``, ``SaveVideo``, ``CreateVideo``, ``SaveWEBM``, ``TestSampler``,
``TestFail``) are byte-for-byte the recorded ones; the others are written from ComfyUI's
``nodes.py`` / ``comfy_extras`` at that version.

Values flowing between nodes are small descriptive objects (:class:`ImageValue`,
:class:`LatentValue`, ...) instead of tensors: enough to know sizes, batch counts and step counts,
and to write real (small) files.
"""

from __future__ import annotations

import asyncio
import copy
import io
import os
import random
import re
import string
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

MAX_SEED = 0xFFFFFFFFFFFFFFFF
MAX_RESOLUTION = 16384

SAMPLERS: list[str] = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis",
    "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp",
    "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc",
    "uni_pc_bh2",
]  # fmt: skip
SCHEDULERS: list[str] = [
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
]  # fmt: skip

#: Model files the fake pretends to have, per ComfyUI model folder (``FakeComfy.models``).
DEFAULT_MODELS: dict[str, list[str]] = {
    "checkpoints": ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"],
    "diffusion_models": [
        "flux1-dev.safetensors",
        "hunyuan_video_t2v_720p_bf16.safetensors",
        "wan2.1_i2v_480p_14B_fp16.safetensors",
    ],
    "text_encoders": [
        "clip_l.safetensors",
        "llava_llama3_fp8_scaled.safetensors",
        "t5xxl_fp16.safetensors",
        "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    ],
    "vae": [
        "ae.safetensors",
        "hunyuan_video_vae_bf16.safetensors",
        "sdxl_vae.safetensors",
        "wan_2.1_vae.safetensors",
    ],
    "loras": ["add_detail.safetensors", "pixel_art_xl.safetensors"],
}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tiff")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ImageValue:
    """An IMAGE batch: ``count`` frames of ``width`` x ``height``."""

    width: int
    height: int
    count: int = 1
    seed: int = 0

    def __str__(self) -> str:
        # What ComfyUI puts in execution_error.current_inputs is a tensor repr; keep the flavour.
        return f"tensor(<IMAGE batch of {self.count}, {self.height}x{self.width}x3, seed {self.seed}>)"


@dataclass(frozen=True)
class LatentValue:
    """A LATENT: pixel size it decodes to, batch size and (for video latents) frame count."""

    width: int
    height: int
    count: int = 1
    frames: int = 1
    seed: int = 0

    def __str__(self) -> str:
        return f"{{'samples': tensor(<LATENT {self.count}x{self.frames} of {self.width}x{self.height}>)}}"


@dataclass(frozen=True)
class VideoValue:
    """A VIDEO (CreateVideo's output)."""

    width: int
    height: int
    frames: int
    fps: float
    seed: int = 0


@dataclass(frozen=True)
class SigmasValue:
    """SIGMAS: only the number of steps matters here."""

    steps: int


@dataclass(frozen=True)
class NoiseValue:
    """NOISE (RandomNoise's output): its seed."""

    seed: int


@dataclass(frozen=True)
class OpaqueValue:
    """Any other output type (MODEL, CLIP, CONDITIONING, ...)."""

    type_name: str
    node_id: str

    def __str__(self) -> str:
        return f"<{self.type_name} from node {self.node_id}>"


@dataclass
class NodeResult:
    """What a behaviour returns: one value per declared output, and the UI dict (or None)."""

    outputs: tuple[Any, ...] = ()
    ui: dict[str, Any] | None = None


class ProcessingInterruptedError(Exception):
    """Raised inside a behaviour when ``POST /interrupt`` hits the running prompt."""


# --------------------------------------------------------------------------- engine protocol


class Dirs(Protocol):
    """The server's directories (``FakeComfy`` and the per-prompt engine both have them)."""

    @property
    def output_dir(self) -> Path: ...
    @property
    def temp_dir(self) -> Path: ...
    @property
    def input_dir(self) -> Path: ...


class Engine(Dirs, Protocol):
    """What behaviours may use of the server for the prompt being executed."""

    @property
    def step_delay(self) -> float: ...
    @property
    def output_size(self) -> int | None: ...

    async def report_progress(self, node_id: str, value: int, total: int, preview: bool) -> None: ...
    async def interruptible_sleep(self, seconds: float) -> None: ...
    def check_interrupt(self) -> None: ...
    async def write_output_file(self, path: Path, data: bytes) -> None: ...


@dataclass
class NodeRun:
    """One execution of one node; passed to a behaviour."""

    node_id: str
    class_type: str
    inputs: dict[str, Any]
    schema: dict[str, Any]
    engine: Engine

    async def progress(self, value: int, total: int, *, preview: bool = True) -> None:
        """Report a sampler step (progress_state, progress and a binary preview)."""
        await self.engine.report_progress(self.node_id, value, total, preview)

    async def sleep(self, seconds: float) -> None:
        """Sleep, waking up (and raising ProcessingInterruptedError) on an interrupt."""
        await self.engine.interruptible_sleep(seconds)

    def outputs_placeholder(self) -> tuple[Any, ...]:
        """One OpaqueValue per declared output type."""
        return tuple(OpaqueValue(str(t), self.node_id) for t in self.schema.get("output", []))


Behaviour = Callable[[NodeRun], Awaitable[NodeResult]]
#: ``VALIDATE_INPUTS``: receives the node's literal inputs, returns True or an error string.
Validator = Callable[[Dirs, Mapping[str, Any]], "bool | str"]


@dataclass
class NodeClass:
    """A node type of the catalog."""

    name: str
    schema: dict[str, Any]
    behaviour: Behaviour | None = None
    #: ComfyUI's VALIDATE_INPUTS (and the input names it takes, which skip the default checks).
    validator: Validator | None = None
    validate_inputs: tuple[str, ...] = ()
    #: ComfyUI's IS_CHANGED: an extra value in the cache key (LoadImage: the file's hash).
    is_changed: Callable[[Dirs, Mapping[str, Any]], str] | None = None
    #: Hidden UNIQUE_ID input: the node id is part of the cache key.
    unique_id_in_key: bool = False

    @property
    def output_node(self) -> bool:
        return bool(self.schema.get("output_node"))

    @property
    def return_types(self) -> tuple[str, ...]:
        return tuple(self.schema.get("output", []))


# --------------------------------------------------------------------------- schema helpers


@dataclass(frozen=True)
class ModelChoices:
    """Placeholder for a combo filled from ``FakeComfy.models[folder]`` when rendered."""

    folder: str


@dataclass(frozen=True)
class InputFileChoices:
    """Placeholder for LoadImage's combo: the image files at the top of the input directory."""


def _inp(type_: Any, opts: dict[str, Any] | None = None) -> list[Any]:
    return [type_] if opts is None else [type_, opts]


def _int(default: int, lo: int, hi: int, step: int | None = None, **extra: Any) -> list[Any]:
    opts: dict[str, Any] = {"default": default, "min": lo, "max": hi}
    if step is not None:
        opts["step"] = step
    opts.update(extra)
    return ["INT", opts]


def _float(default: float, lo: float, hi: float | None, step: float | None = None, **extra: Any) -> list[Any]:
    opts: dict[str, Any] = {"default": default, "min": lo}
    if hi is not None:
        opts["max"] = hi
    if step is not None:
        opts["step"] = step
    opts.update(extra)
    return ["FLOAT", opts]


def _seed(tooltip: str | None = None) -> list[Any]:
    extra: dict[str, Any] = {"control_after_generate": True}
    if tooltip:
        extra["tooltip"] = tooltip
    return _int(0, 0, MAX_SEED, **extra)


def _cfg() -> list[Any]:
    return _float(8.0, 0.0, 100.0, 0.1, round=0.01)


def _v1(
    name: str,
    *,
    display_name: str,
    category: str,
    required: dict[str, Any],
    optional: dict[str, Any] | None = None,
    hidden: dict[str, Any] | None = None,
    outputs: list[str] | None = None,
    output_names: list[str] | None = None,
    output_node: bool = False,
    module: str = "nodes",
    description: str = "",
    output_tooltips: list[str] | None = None,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {"required": required}
    order: dict[str, Any] = {"required": list(required)}
    if optional:
        inputs["optional"] = optional
        order["optional"] = list(optional)
    if hidden:
        inputs["hidden"] = hidden
        order["hidden"] = list(hidden)
    outs = outputs or []
    schema: dict[str, Any] = {
        "input": inputs,
        "input_order": order,
        "output": outs,
        "output_is_list": [False] * len(outs),
        "output_name": output_names or list(outs),
        "name": name,
        "display_name": display_name,
        "description": description,
        "python_module": module,
        "category": category,
        "output_node": output_node,
    }
    if output_tooltips is not None:
        schema["output_tooltips"] = output_tooltips
    return schema


_V1_HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
_V3_HIDDEN = {"prompt": ["PROMPT"], "extra_pnginfo": ["EXTRA_PNGINFO"]}
_PREFIX_TOOLTIP = (
    "The prefix for the file to save. This may include formatting information such as "
    "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."
)


def _v3(
    name: str,
    *,
    display_name: str | None,
    category: str,
    required: dict[str, Any],
    optional: dict[str, Any] | None = None,
    hidden: dict[str, Any] | None = None,
    outputs: list[str] | None = None,
    output_node: bool = False,
    module: str,
    description: str = "",
    experimental: bool = False,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {"required": required}
    order: dict[str, Any] = {"required": list(required)}
    if optional:
        inputs["optional"] = optional
        order["optional"] = list(optional)
    if hidden:
        inputs["hidden"] = hidden
        order["hidden"] = list(hidden)
    outs = outputs or []
    return {
        "input": inputs,
        "input_order": order,
        "output": outs,
        "output_is_list": [False] * len(outs),
        "output_name": list(outs),
        "output_tooltips": [None] * len(outs),
        "name": name,
        "display_name": display_name,
        "description": description,
        "python_module": module,
        "category": category,
        "output_node": output_node,
        "deprecated": False,
        "experimental": experimental,
        "api_node": False,
    }


def render_schema(schema: dict[str, Any], engine: Dirs, models: Mapping[str, list[str]]) -> Any:
    """A deep copy of ``schema`` with model / input-file placeholders replaced by lists."""

    def walk(obj: Any) -> Any:
        if isinstance(obj, ModelChoices):
            return list(models.get(obj.folder, []))
        if isinstance(obj, InputFileChoices):
            return list_input_images(engine.input_dir)
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return copy.copy(obj)

    return walk(schema)


def list_input_images(input_dir: Path) -> list[str]:
    """Top-level image files of the input directory, sorted (LoadImage's combo)."""
    try:
        names = os.listdir(input_dir)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if (input_dir / n).is_file() and n.lower().endswith(IMAGE_EXTENSIONS))


# --------------------------------------------------------------------------- value helpers


def _seed_of(v: Any) -> int:
    return int(getattr(v, "seed", 0) or 0)


def as_latent(v: Any, default_size: int = 512) -> LatentValue:
    if isinstance(v, LatentValue):
        return v
    if isinstance(v, ImageValue):
        return LatentValue(v.width, v.height, v.count, 1, v.seed)
    return LatentValue(default_size, default_size)


def as_image(v: Any) -> ImageValue:
    if isinstance(v, ImageValue):
        return v
    if isinstance(v, LatentValue):
        return ImageValue(v.width, v.height, v.count * v.frames, v.seed)
    if isinstance(v, VideoValue):
        return ImageValue(v.width, v.height, v.frames, v.seed)
    return ImageValue(512, 512)


def _color(seed: int, index: int) -> tuple[int, int, int]:
    rng = random.Random(seed * 1009 + index)
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _frame(img: ImageValue, index: int) -> Image.Image:
    w, h = max(1, img.width), max(1, img.height)
    im = Image.new("RGB", (w, h), _color(img.seed, index))
    # A second colour band, so frames are real pictures and differ by seed.
    band = Image.new("RGB", (w, max(1, h // 4)), _color(img.seed + 1, index))
    im.paste(band, (0, h // 2))
    return im


def png_bytes(img: ImageValue, index: int = 0) -> bytes:
    buf = io.BytesIO()
    _frame(img, index).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def animated_bytes(img: ImageValue, fmt: str, fps: float) -> bytes:
    frames = [_frame(img, i) for i in range(max(1, img.count))]
    buf = io.BytesIO()
    duration = int(1000 / fps) if fps > 0 else 100
    if fmt == "WEBP":
        frames[0].save(
            buf, format="WEBP", save_all=True, append_images=frames[1:], duration=duration,
            lossless=False, quality=50, loop=0,
        )  # fmt: skip
    elif fmt == "GIF":
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0)
    else:
        frames[0].save(
            buf, format="PNG", save_all=True, append_images=frames[1:], duration=duration,
            compress_level=1,
        )  # fmt: skip
    return buf.getvalue()


def video_stub_bytes(ext: str, video: VideoValue) -> bytes:
    """Not a playable video (no encoder here): the container's magic bytes, then padding."""
    info = f"fake {ext} {video.width}x{video.height} {video.frames}f @{video.fps}fps".encode()
    if ext == "webm":
        head = bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01webm"
    else:
        head = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    return head + info + b"\x00" * 2048


def preview_jpeg(step: int, total: int, size: int = 64) -> bytes:
    """A small real JPEG, its shade moving with the step."""
    shade = int(255 * step / max(total, 1))
    im = Image.new("RGB", (size, size), (shade, 96, 255 - shade))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def get_save_image_path(filename_prefix: str, output_dir: Path) -> tuple[Path, str, int, str]:
    """ComfyUI's folder_paths.get_save_image_path: folder, base name, next counter, subfolder."""
    prefix = os.path.normpath(filename_prefix)
    subfolder = os.path.dirname(prefix)
    filename = os.path.basename(prefix)
    base = os.path.abspath(output_dir)
    full = os.path.abspath(os.path.join(base, subfolder))
    if os.path.commonpath((base, full)) != base:
        raise Exception(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {full}\n         output_dir: {base}"
        )

    def map_filename(name: str) -> tuple[int, str]:
        prefix_len = len(filename)
        head = name[: prefix_len + 1]
        try:
            digits = int(name[prefix_len + 1 :].split("_")[0])
        except ValueError:
            digits = 0
        return digits, head

    try:
        candidates = [
            m
            for m in map(map_filename, os.listdir(full))
            if os.path.normcase(m[1][:-1]) == os.path.normcase(filename) and m[1][-1:] == "_"
        ]
        counter = max(candidates)[0] + 1 if candidates else 1
    except FileNotFoundError:
        os.makedirs(full, exist_ok=True)
        counter = 1
    return Path(full), filename, counter, subfolder


def _vhs_save_path(base_dir: Path, filename_prefix: str) -> tuple[Path, str, str, int]:
    """VideoHelperSuite's naming: ``{prefix}_{counter:05}.{ext}`` (no trailing underscore)."""
    prefix = os.path.normpath(filename_prefix)
    subfolder, filename = os.path.dirname(prefix), os.path.basename(prefix)
    folder = base_dir / subfolder
    return folder, filename, subfolder, _vhs_counter(folder, filename)


def _vhs_counter(folder: Path, filename: str) -> int:
    pattern = re.compile(re.escape(filename) + r"_(\d+)\D*\..+")
    best = 0
    try:
        for name in os.listdir(folder):
            m = pattern.fullmatch(name)
            if m:
                best = max(best, int(m.group(1)))
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
    return best + 1


# --------------------------------------------------------------------------- behaviours


async def generic_behaviour(run: NodeRun) -> NodeResult:
    """Default: one opaque value per output, no UI."""
    return NodeResult(run.outputs_placeholder())


async def _run_steps(run: NodeRun, steps: int, *, preview: bool = True) -> None:
    for k in range(1, steps + 1):
        await run.sleep(run.engine.step_delay)
        await run.progress(k, steps, preview=preview)


async def empty_latent(run: NodeRun) -> NodeResult:
    i = run.inputs
    frames = int(i.get("length", 1))
    latent = LatentValue(int(i["width"]), int(i["height"]), int(i.get("batch_size", 1)), frames)
    return NodeResult((latent,))


async def ksampler(run: NodeRun) -> NodeResult:
    i = run.inputs
    steps = int(i.get("steps", 4))
    if run.class_type == "KSamplerAdvanced":
        end = min(int(i.get("end_at_step", steps)), steps)
        steps = max(end - int(i.get("start_at_step", 0)), 0)
    seed = int(i.get("seed", i.get("noise_seed", 0)))
    await _run_steps(run, steps)
    return NodeResult((replace(as_latent(i.get("latent_image")), seed=seed),))


async def custom_sampler(run: NodeRun) -> NodeResult:
    i = run.inputs
    sigmas = i.get("sigmas")
    steps = sigmas.steps if isinstance(sigmas, SigmasValue) else 4
    noise = i.get("noise")
    seed = noise.seed if isinstance(noise, NoiseValue) else int(i.get("noise_seed", 0))
    await _run_steps(run, steps)
    latent = replace(as_latent(i.get("latent_image")), seed=seed)
    return NodeResult((latent, latent))


async def random_noise(run: NodeRun) -> NodeResult:
    return NodeResult((NoiseValue(int(run.inputs["noise_seed"])),))


async def basic_scheduler(run: NodeRun) -> NodeResult:
    return NodeResult((SigmasValue(int(run.inputs["steps"])),))


async def vae_decode(run: NodeRun) -> NodeResult:
    return NodeResult((as_image(run.inputs.get("samples")),))


async def vae_encode(run: NodeRun) -> NodeResult:
    return NodeResult((as_latent(run.inputs.get("pixels")),))


async def load_image(run: NodeRun) -> NodeResult:
    path = resolve_input_path(run.engine.input_dir, str(run.inputs["image"]))
    size, frames = await asyncio.to_thread(_image_info, path)
    img = ImageValue(size[0], size[1], frames, seed=zlib.crc32(path.name.encode()))
    return NodeResult((img, OpaqueValue("MASK", run.node_id)))


def _image_info(path: Path) -> tuple[tuple[int, int], int]:
    with Image.open(path) as im:
        return im.size, int(getattr(im, "n_frames", 1))


async def image_scale(run: NodeRun) -> NodeResult:
    img = as_image(run.inputs.get("image"))
    w, h = int(run.inputs["width"]), int(run.inputs["height"])
    if w == 0 and h == 0:
        w, h = img.width, img.height
    elif w == 0:
        w = max(1, round(img.width * h / max(img.height, 1)))
    elif h == 0:
        h = max(1, round(img.height * w / max(img.width, 1)))
    return NodeResult((replace(img, width=w, height=h),))


async def test_sampler(run: NodeRun) -> NodeResult:
    i = run.inputs
    steps = int(i["steps"])
    await _run_steps(run, steps, preview=bool(i.get("preview", True)))
    src = i.get("image")
    seed = int(i["seed"])
    if isinstance(src, ImageValue):
        return NodeResult((ImageValue(src.width, src.height, src.count, seed),))
    return NodeResult((ImageValue(int(i["width"]), int(i["height"]), int(i.get("batch_size", 1)), seed),))  # fmt: skip


async def test_fail(run: NodeRun) -> NodeResult:
    delay = float(run.inputs.get("delay", 0.0) or 0.0)
    if delay > 0:
        await run.sleep(delay)
    raise RuntimeError(str(run.inputs.get("message", "TestFail: deliberate failure")))


async def create_video(run: NodeRun) -> NodeResult:
    img = as_image(run.inputs.get("images"))
    fps = float(run.inputs.get("fps", 30.0))
    return NodeResult((VideoValue(img.width, img.height, img.count, fps, img.seed),))


def _result(filename: str, subfolder: str, type_: str) -> dict[str, str]:
    return {"filename": filename, "subfolder": subfolder, "type": type_}


async def save_image(run: NodeRun) -> NodeResult:
    img = as_image(run.inputs.get("images"))
    if run.class_type == "PreviewImage":
        base_dir, type_ = run.engine.temp_dir, "temp"
        rand = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        prefix = "ComfyUI_temp_" + rand
    else:
        base_dir, type_ = run.engine.output_dir, "output"
        prefix = str(run.inputs.get("filename_prefix", "ComfyUI"))
    folder, filename, counter, subfolder = await asyncio.to_thread(get_save_image_path, prefix, base_dir)
    results = []
    for index in range(max(1, img.count)):
        name = f"{filename.replace('%batch_num%', str(index))}_{counter:05}_.png"
        await run.engine.write_output_file(folder / name, await asyncio.to_thread(png_bytes, img, index))
        results.append(_result(name, subfolder, type_))
        counter += 1
    return NodeResult((), {"images": results})


async def save_animated(run: NodeRun) -> NodeResult:
    img = as_image(run.inputs.get("images"))
    fmt, ext = ("WEBP", "webp") if run.class_type == "SaveAnimatedWEBP" else ("PNG", "png")
    fps = float(run.inputs.get("fps", 6.0))
    prefix = str(run.inputs.get("filename_prefix", "ComfyUI"))
    folder, filename, counter, subfolder = await asyncio.to_thread(get_save_image_path, prefix, run.engine.output_dir)
    name = f"{filename}_{counter:05}_.{ext}"
    data = await asyncio.to_thread(animated_bytes, img, fmt, fps)
    await run.engine.write_output_file(folder / name, data)
    return NodeResult((), {"images": [_result(name, subfolder, "output")], "animated": [img.count != 1]})


async def save_video(run: NodeRun) -> NodeResult:
    i = run.inputs
    if run.class_type == "SaveWEBM":
        img = as_image(i.get("images"))
        video = VideoValue(img.width, img.height, img.count, float(i.get("fps", 24.0)), img.seed)
        ext = "webm"
    else:
        src = i.get("video")
        video = src if isinstance(src, VideoValue) else VideoValue(512, 512, 1, 24.0)
        ext = "mp4"
    prefix = str(i.get("filename_prefix", "video/ComfyUI"))
    folder, filename, counter, subfolder = await asyncio.to_thread(get_save_image_path, prefix, run.engine.output_dir)
    name = f"{filename}_{counter:05}_.{ext}"
    await run.engine.write_output_file(folder / name, video_stub_bytes(ext, video))
    return NodeResult((), {"images": [_result(name, subfolder, "output")], "animated": [True]})


_VHS_FORMATS = [
    "image/gif", "image/webp", "video/16bit-png", "video/8bit-png", "video/av1-webm",
    "video/ffmpeg-gif", "video/h264-mp4", "video/h265-mp4", "video/nvenc_av1-mp4",
    "video/nvenc_h264-mp4", "video/nvenc_hevc-mp4", "video/ProRes", "video/webm",
]  # fmt: skip


async def vhs_video_combine(run: NodeRun) -> NodeResult:
    i = run.inputs
    img = as_image(i.get("images"))
    fmt = str(i.get("format", "image/gif"))
    frame_rate = i.get("frame_rate", 8)
    save_output = bool(i.get("save_output", True))
    base_dir, type_ = (run.engine.output_dir, "output") if save_output else (run.engine.temp_dir, "temp")
    folder, filename, subfolder, counter = await asyncio.to_thread(
        _vhs_save_path, base_dir, str(i.get("filename_prefix", "AnimateDiff"))
    )
    first = f"{filename}_{counter:05}.png"
    await run.engine.write_output_file(folder / first, await asyncio.to_thread(png_bytes, img, 0))
    kind, _, ext = fmt.partition("/")
    ext = ext.rsplit("-", 1)[-1] if "-" in ext else ext
    if kind == "image" and ext in ("gif", "webp"):
        data = await asyncio.to_thread(animated_bytes, img, ext.upper(), float(frame_rate))
    else:
        ext = "webm" if ext == "webm" else ("mov" if ext == "ProRes" else "mp4")
        data = video_stub_bytes(ext, VideoValue(img.width, img.height, img.count, float(frame_rate)))
    name = f"{filename}_{counter:05}.{ext}"
    await run.engine.write_output_file(folder / name, data)
    preview = {
        "filename": name,
        "subfolder": subfolder,
        "type": type_,
        "format": fmt,
        "frame_rate": frame_rate,
        "workflow": first,
        "fullpath": str(folder / name),
    }
    return NodeResult(((save_output, [str(folder / first), str(folder / name)]),), {"gifs": [preview]})


def resolve_input_path(input_dir: Path, name: str) -> Path:
    """LoadImage's annotated path: ``name``, ``sub/name``, ``name [input]``."""
    for suffix in (" [input]",):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return input_dir / name


def load_image_validator(engine: Dirs, inputs: Mapping[str, Any]) -> bool | str:
    image = str(inputs.get("image"))
    path = resolve_input_path(engine.input_dir, image)
    base = os.path.abspath(engine.input_dir)
    if os.path.commonpath((base, os.path.abspath(path))) != base or not path.is_file():
        return f"Invalid image file: {image}"
    return True


def load_image_is_changed(engine: Dirs, inputs: Mapping[str, Any]) -> str:
    import hashlib

    path = resolve_input_path(engine.input_dir, str(inputs.get("image")))
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


# --------------------------------------------------------------------------- the catalog


def _loader_combo(folder: str, tooltip: str | None = None) -> list[Any]:
    return _inp(ModelChoices(folder), {"tooltip": tooltip} if tooltip else None)


def build_catalog() -> dict[str, NodeClass]:
    """A fresh catalog: class name -> NodeClass."""
    c: dict[str, NodeClass] = {}

    def add(schema: dict[str, Any], behaviour: Behaviour | None = None, **kw: Any) -> None:
        c[schema["name"]] = NodeClass(schema["name"], schema, behaviour, **kw)

    add(_v1(
        "CheckpointLoaderSimple", display_name="Load Checkpoint", category="loaders",
        required={"ckpt_name": _loader_combo(
            "checkpoints", "The name of the checkpoint (model) to load.")},
        outputs=["MODEL", "CLIP", "VAE"],
        description="Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
        output_tooltips=[
            "The model used for denoising latents.",
            "The CLIP model used for encoding text prompts.",
            "The VAE model used for encoding and decoding images to and from latent space.",
        ],
    ))  # fmt: skip
    add(_v1(
        "CLIPTextEncode", display_name="CLIP Text Encode (Prompt)", category="conditioning",
        required={
            "text": ["STRING", {"multiline": True, "dynamicPrompts": True,
                                "tooltip": "The text to be encoded."}],
            "clip": ["CLIP", {"tooltip": "The CLIP model used for encoding the text."}],
        },
        outputs=["CONDITIONING"],
        description="Encodes a text prompt using a CLIP model into an embedding that can be used "
        "to guide the diffusion model towards generating specific images.",
        output_tooltips=[
            "A conditioning containing the embedded text used to guide the diffusion model."],
    ))  # fmt: skip
    add(_v1(
        "EmptyLatentImage", display_name="Empty Latent Image", category="latent",
        required={
            "width": _int(512, 16, MAX_RESOLUTION, 8,
                          tooltip="The width of the latent images in pixels."),
            "height": _int(512, 16, MAX_RESOLUTION, 8,
                           tooltip="The height of the latent images in pixels."),
            "batch_size": _int(1, 1, 4096, tooltip="The number of latent images in the batch."),
        },
        outputs=["LATENT"],
        description="Create a new batch of empty latent images to be denoised via sampling.",
        output_tooltips=["The empty latent image batch."],
    ), empty_latent)  # fmt: skip
    add(_v1(
        "EmptySD3LatentImage", display_name="EmptySD3LatentImage", category="latent/sd3",
        module="comfy_extras.nodes_sd3",
        required={
            "width": _int(1024, 16, MAX_RESOLUTION, 16),
            "height": _int(1024, 16, MAX_RESOLUTION, 16),
            "batch_size": _int(1, 1, 4096),
        },
        outputs=["LATENT"],
    ), empty_latent)  # fmt: skip
    add(_v1(
        "KSampler", display_name="KSampler", category="sampling",
        required={
            "model": ["MODEL", {"tooltip": "The model used for denoising the input latent."}],
            "seed": _seed("The random seed used for creating the noise."),
            "steps": _int(20, 1, 10000,
                          tooltip="The number of steps used in the denoising process."),
            "cfg": _float(8.0, 0.0, 100.0, 0.1, round=0.01, tooltip=(
                "The Classifier-Free Guidance scale balances creativity and adherence to the "
                "prompt. Higher values result in images more closely matching the prompt however "
                "too high values will negatively impact quality.")),
            "sampler_name": [SAMPLERS, {"tooltip": (
                "The algorithm used when sampling, this can affect the quality, speed, and style "
                "of the generated output.")}],
            "scheduler": [SCHEDULERS, {"tooltip": (
                "The scheduler controls how noise is gradually removed to form the image.")}],
            "positive": ["CONDITIONING", {"tooltip": (
                "The conditioning describing the attributes you want to include in the image.")}],
            "negative": ["CONDITIONING", {"tooltip": (
                "The conditioning describing the attributes you want to exclude from the image.")}],
            "latent_image": ["LATENT", {"tooltip": "The latent image to denoise."}],
            "denoise": _float(1.0, 0.0, 1.0, 0.01, tooltip=(
                "The amount of denoising applied, lower values will maintain the structure of "
                "the initial image allowing for image to image sampling.")),
        },
        outputs=["LATENT"],
        description="Uses the provided model, positive and negative conditioning to denoise the "
        "latent image.",
        output_tooltips=["The denoised latent."],
    ), ksampler)  # fmt: skip
    add(_v1(
        "KSamplerAdvanced", display_name="KSampler (Advanced)", category="sampling",
        required={
            "model": ["MODEL"],
            "add_noise": [["enable", "disable"]],
            "noise_seed": _seed(),
            "steps": _int(20, 1, 10000),
            "cfg": _cfg(),
            "sampler_name": [SAMPLERS],
            "scheduler": [SCHEDULERS],
            "positive": ["CONDITIONING"],
            "negative": ["CONDITIONING"],
            "latent_image": ["LATENT"],
            "start_at_step": _int(0, 0, 10000),
            "end_at_step": _int(10000, 0, 10000),
            "return_with_leftover_noise": [["disable", "enable"]],
        },
        outputs=["LATENT"],
    ), ksampler)  # fmt: skip
    custom = "comfy_extras.nodes_custom_sampler"
    add(_v1(
        "SamplerCustom", display_name="SamplerCustom", category="sampling/custom_sampling",
        module=custom,
        required={
            "model": ["MODEL"],
            "add_noise": ["BOOLEAN", {"default": True}],
            "noise_seed": _seed(),
            "cfg": _cfg(),
            "positive": ["CONDITIONING"],
            "negative": ["CONDITIONING"],
            "sampler": ["SAMPLER"],
            "sigmas": ["SIGMAS"],
            "latent_image": ["LATENT"],
        },
        outputs=["LATENT", "LATENT"], output_names=["output", "denoised_output"],
    ), custom_sampler)  # fmt: skip
    add(_v1(
        "SamplerCustomAdvanced", display_name="SamplerCustomAdvanced",
        category="sampling/custom_sampling", module=custom,
        required={
            "noise": ["NOISE"], "guider": ["GUIDER"], "sampler": ["SAMPLER"],
            "sigmas": ["SIGMAS"], "latent_image": ["LATENT"],
        },
        outputs=["LATENT", "LATENT"], output_names=["output", "denoised_output"],
    ), custom_sampler)  # fmt: skip
    add(_v1(
        "RandomNoise", display_name="RandomNoise", category="sampling/custom_sampling/noise",
        module=custom, required={"noise_seed": _seed()}, outputs=["NOISE"],
    ), random_noise)  # fmt: skip
    add(_v1(
        "BasicGuider", display_name="BasicGuider", category="sampling/custom_sampling/guiders",
        module=custom, required={"model": ["MODEL"], "conditioning": ["CONDITIONING"]},
        outputs=["GUIDER"],
    ))  # fmt: skip
    add(_v1(
        "CFGGuider", display_name="CFGGuider", category="sampling/custom_sampling/guiders",
        module=custom,
        required={"model": ["MODEL"], "positive": ["CONDITIONING"],
                  "negative": ["CONDITIONING"], "cfg": _cfg()},
        outputs=["GUIDER"],
    ))  # fmt: skip
    add(_v1(
        "BasicScheduler", display_name="BasicScheduler",
        category="sampling/custom_sampling/schedulers", module=custom,
        required={"model": ["MODEL"], "scheduler": [SCHEDULERS],
                  "steps": _int(20, 1, 10000), "denoise": _float(1.0, 0.0, 1.0, 0.01)},
        outputs=["SIGMAS"],
    ), basic_scheduler)  # fmt: skip
    add(_v1(
        "KSamplerSelect", display_name="KSamplerSelect",
        category="sampling/custom_sampling/samplers", module=custom,
        required={"sampler_name": [SAMPLERS]}, outputs=["SAMPLER"],
    ))  # fmt: skip
    add(_v1(
        "FluxGuidance", display_name="FluxGuidance", category="advanced/conditioning/flux",
        module="comfy_extras.nodes_flux",
        required={"conditioning": ["CONDITIONING"], "guidance": _float(3.5, 0.0, 100.0, 0.1)},
        outputs=["CONDITIONING"],
    ))  # fmt: skip
    add(_v1(
        "UNETLoader", display_name="Load Diffusion Model", category="advanced/loaders",
        required={
            "unet_name": _loader_combo("diffusion_models"),
            "weight_dtype": [["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]],
        },
        outputs=["MODEL"],
    ))  # fmt: skip
    add(_v1(
        "DualCLIPLoader", display_name="DualCLIPLoader", category="advanced/loaders",
        required={
            "clip_name1": _loader_combo("text_encoders"),
            "clip_name2": _loader_combo("text_encoders"),
            "type": [["sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image"]],
        },
        optional={"device": [["default", "cpu"], {"advanced": True}]},
        outputs=["CLIP"],
        description="[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / "
        "clip-g, t5\nflux: clip-l, t5\nhidream: at least one of t5 or llama, recommended t5 and "
        "llama\nhunyuan_image: qwen2.5vl 7b and byt5 small",
    ))  # fmt: skip
    add(_v1(
        "CLIPLoader", display_name="Load CLIP", category="advanced/loaders",
        required={
            "clip_name": _loader_combo("text_encoders"),
            "type": [["stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi",
                      "ltxv", "pixart", "cosmos", "lumina2", "wan", "hidream", "chroma", "ace",
                      "omnigen2", "qwen_image", "hunyuan_image"]],
        },
        optional={"device": [["default", "cpu"], {"advanced": True}]},
        outputs=["CLIP"],
    ))  # fmt: skip
    add(_v1(
        "VAELoader", display_name="Load VAE", category="loaders",
        required={"vae_name": _loader_combo("vae")}, outputs=["VAE"],
    ))  # fmt: skip
    add(_v1(
        "LoraLoader", display_name="Load LoRA", category="loaders",
        required={
            "model": ["MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}],
            "clip": ["CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}],
            "lora_name": _loader_combo("loras", "The name of the LoRA."),
            "strength_model": _float(1.0, -100.0, 100.0, 0.01, tooltip=(
                "How strongly to modify the diffusion model. This value can be negative.")),
            "strength_clip": _float(1.0, -100.0, 100.0, 0.01, tooltip=(
                "How strongly to modify the CLIP model. This value can be negative.")),
        },
        outputs=["MODEL", "CLIP"],
        description="LoRAs are used to modify diffusion and CLIP models, altering the way in "
        "which latents are denoised such as applying styles. Multiple LoRA nodes can be linked "
        "together.",
        output_tooltips=["The modified diffusion model.", "The modified CLIP model."],
    ))  # fmt: skip
    add(_v1(
        "LoraLoaderModelOnly", display_name="LoraLoaderModelOnly", category="loaders",
        required={"model": ["MODEL"], "lora_name": _loader_combo("loras"),
                  "strength_model": _float(1.0, -100.0, 100.0, 0.01)},
        outputs=["MODEL"],
    ))  # fmt: skip
    add(_v1(
        "VAEDecode", display_name="VAE Decode", category="latent",
        required={
            "samples": ["LATENT", {"tooltip": "The latent to be decoded."}],
            "vae": ["VAE", {"tooltip": "The VAE model used for decoding the latent."}],
        },
        outputs=["IMAGE"],
        description="Decodes latent images back into pixel space images.",
        output_tooltips=["The decoded image."],
    ), vae_decode)  # fmt: skip
    add(_v1(
        "VAEEncode", display_name="VAE Encode", category="latent",
        required={"pixels": ["IMAGE"], "vae": ["VAE"]}, outputs=["LATENT"],
    ), vae_encode)  # fmt: skip
    add(
        _v1(
            "LoadImage", display_name="Load Image", category="image",
            required={"image": [InputFileChoices(), {"image_upload": True}]},
            outputs=["IMAGE", "MASK"],
        ),
        load_image,
        validator=load_image_validator,
        validate_inputs=("image",),
        is_changed=load_image_is_changed,
    )  # fmt: skip
    add(_v1(
        "ImageScale", display_name="Upscale Image", category="image/upscaling",
        required={
            "image": ["IMAGE"],
            "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]],
            "width": _int(512, 0, MAX_RESOLUTION, 1),
            "height": _int(512, 0, MAX_RESOLUTION, 1),
            "crop": [["disabled", "center"]],
        },
        outputs=["IMAGE"],
    ), image_scale)  # fmt: skip
    add(_v1(
        "SaveImage", display_name="Save Image", category="image",
        required={
            "images": ["IMAGE", {"tooltip": "The images to save."}],
            "filename_prefix": ["STRING", {"default": "ComfyUI", "tooltip": _PREFIX_TOOLTIP}],
        },
        hidden=dict(_V1_HIDDEN), output_node=True,
        description="Saves the input images to your ComfyUI output directory.",
    ), save_image)  # fmt: skip
    add(_v1(
        "PreviewImage", display_name="Preview Image", category="image",
        required={"images": ["IMAGE"]}, hidden=dict(_V1_HIDDEN), output_node=True,
        description="Saves the input images to your ComfyUI output directory.",
    ), save_image)  # fmt: skip
    add(_v1(
        "SaveAnimatedWEBP", display_name="SaveAnimatedWEBP", category="image/animation",
        module="comfy_extras.nodes_images",
        required={
            "images": ["IMAGE"],
            "filename_prefix": ["STRING", {"default": "ComfyUI"}],
            "fps": _float(6.0, 0.01, 1000.0, 0.01),
            "lossless": ["BOOLEAN", {"default": True}],
            "quality": _int(80, 0, 100),
            "method": [["default", "fastest", "slowest"]],
        },
        hidden=dict(_V1_HIDDEN), output_node=True,
    ), save_animated)  # fmt: skip
    add(_v1(
        "SaveAnimatedPNG", display_name="SaveAnimatedPNG", category="image/animation",
        module="comfy_extras.nodes_images",
        required={
            "images": ["IMAGE"],
            "filename_prefix": ["STRING", {"default": "ComfyUI"}],
            "fps": _float(6.0, 0.01, 1000.0, 0.01),
            "compress_level": _int(4, 0, 9),
        },
        hidden=dict(_V1_HIDDEN), output_node=True,
    ), save_animated)  # fmt: skip
    video = "comfy_extras.nodes_video"
    add(_v3(
        "SaveWEBM", display_name=None, category="image/video", module=video,
        required={
            "images": ["IMAGE", {}],
            "filename_prefix": ["STRING", {"default": "ComfyUI", "multiline": False}],
            "codec": ["COMBO", {"multiselect": False, "options": ["vp9", "av1"]}],
            "fps": ["FLOAT", {"default": 24.0, "min": 0.01, "max": 1000.0, "step": 0.01}],
            "crf": ["FLOAT", {"tooltip": (
                "Higher crf means lower quality with a smaller file size, lower crf means "
                "higher quality higher filesize."), "default": 32.0, "min": 0, "max": 63.0,
                "step": 1}],
        },
        hidden=dict(_V3_HIDDEN), output_node=True, experimental=True,
    ), save_video)  # fmt: skip
    add(_v3(
        "CreateVideo", display_name="Create Video", category="image/video", module=video,
        required={
            "images": ["IMAGE", {"tooltip": "The images to create a video from."}],
            "fps": ["FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0}],
        },
        optional={"audio": ["AUDIO", {"tooltip": "The audio to add to the video."}]},
        outputs=["VIDEO"], description="Create a video from images.",
    ), create_video)  # fmt: skip
    add(_v3(
        "SaveVideo", display_name="Save Video", category="image/video", module=video,
        required={
            "video": ["VIDEO", {"tooltip": "The video to save."}],
            "filename_prefix": ["STRING", {"tooltip": _PREFIX_TOOLTIP,
                                           "default": "video/ComfyUI", "multiline": False}],
            "format": ["COMBO", {"tooltip": "The format to save the video as.",
                                 "default": "auto", "multiselect": False,
                                 "options": ["auto", "mp4"]}],
            "codec": ["COMBO", {"tooltip": "The codec to use for the video.", "default": "auto",
                                "multiselect": False, "options": ["auto", "h264"]}],
        },
        hidden=dict(_V3_HIDDEN), output_node=True,
        description="Saves the input images to your ComfyUI output directory.",
    ), save_video)  # fmt: skip
    add(_v1(
        "EmptyHunyuanLatentVideo", display_name="EmptyHunyuanLatentVideo",
        category="latent/video", module="comfy_extras.nodes_hunyuan",
        required={
            "width": _int(848, 16, MAX_RESOLUTION, 16),
            "height": _int(480, 16, MAX_RESOLUTION, 16),
            "length": _int(25, 1, MAX_RESOLUTION, 4),
            "batch_size": _int(1, 1, 4096),
        },
        outputs=["LATENT"],
    ), empty_latent)  # fmt: skip
    add(_v1(
        "WanImageToVideo", display_name="WanImageToVideo",
        category="conditioning/video_models", module="comfy_extras.nodes_wan",
        required={
            "positive": ["CONDITIONING"], "negative": ["CONDITIONING"], "vae": ["VAE"],
            "width": _int(832, 16, MAX_RESOLUTION, 16),
            "height": _int(480, 16, MAX_RESOLUTION, 16),
            "length": _int(81, 1, MAX_RESOLUTION, 4),
            "batch_size": _int(1, 1, 4096),
        },
        optional={"clip_vision_output": ["CLIP_VISION_OUTPUT"], "start_image": ["IMAGE"]},
        outputs=["CONDITIONING", "CONDITIONING", "LATENT"],
        output_names=["positive", "negative", "latent"],
    ), _wan_image_to_video)  # fmt: skip
    add(_v1(
        "ModelSamplingSD3", display_name="ModelSamplingSD3", category="advanced/model",
        module="comfy_extras.nodes_model_advanced",
        required={"model": ["MODEL"], "shift": _float(3.0, 0.0, 100.0, 0.01)},
        outputs=["MODEL"],
    ))  # fmt: skip
    add(
        _v1(
            "VHS_VideoCombine", display_name="Video Combine 🎥🅥🅗🅢",
            category="Video Helper Suite 🎥🅥🅗🅢",
            module="custom_nodes.ComfyUI-VideoHelperSuite",
            required={
                "images": ["IMAGE"],
                "frame_rate": ["FLOAT", {"default": 8, "min": 1, "step": 1}],
                "loop_count": _int(0, 0, 100, 1),
                "filename_prefix": ["STRING", {"default": "AnimateDiff"}],
                "format": [list(_VHS_FORMATS)],
                "pingpong": ["BOOLEAN", {"default": False}],
                "save_output": ["BOOLEAN", {"default": True}],
            },
            optional={"audio": ["AUDIO"], "meta_batch": ["VHS_BatchManager"], "vae": ["VAE"]},
            hidden={"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO",
                    "unique_id": "UNIQUE_ID"},
            outputs=["VHS_FILENAMES"], output_names=["Filenames"], output_node=True,
        ),
        vhs_video_combine,
        unique_id_in_key=True,
    )  # fmt: skip
    test = "custom_nodes.discomfy_test_nodes"
    add(_v1(
        "TestSampler", display_name="Test Sampler (no weights)", category="discomfy/test",
        module=test,
        required={
            "seed": _seed("Same seed (and size, batch) gives the same pixels."),
            "steps": _int(8, 1, 10000),
            "width": _int(512, 16, 4096, 8),
            "height": _int(512, 16, 4096, 8),
            "delay": _float(0.25, 0.0, 60.0, 0.01, tooltip="Seconds slept per step."),
            "text": ["STRING", {"multiline": True, "default": "a test prompt"}],
        },
        optional={
            "batch_size": _int(1, 1, 256, tooltip="Images (or animation frames) to produce."),
            "image": ["IMAGE", {"tooltip": "If given: img2img, width/height come from it."}],
            "denoise": _float(1.0, 0.0, 1.0, 0.01),
            "preview": ["BOOLEAN", {"default": True,
                                    "tooltip": "Send a JPEG preview with each step."}],
        },
        outputs=["IMAGE"], output_names=["images"],
    ), test_sampler)  # fmt: skip
    add(_v1(
        "TestFail", display_name="Test Fail", category="discomfy/test", module=test,
        required={"message": ["STRING", {"default": "TestFail: deliberate failure"}]},
        optional={"images": ["IMAGE"], "delay": _float(0.0, 0.0, 60.0, 0.01)},
        output_node=True,
    ), test_fail)  # fmt: skip
    return c


async def _wan_image_to_video(run: NodeRun) -> NodeResult:
    i = run.inputs
    latent = LatentValue(int(i["width"]), int(i["height"]), int(i.get("batch_size", 1)), int(i.get("length", 1)))
    cond = OpaqueValue("CONDITIONING", run.node_id)
    return NodeResult((cond, cond, latent))


def complete_schema(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in what a hand-written custom schema leaves out (add_node_class)."""
    inputs = copy.deepcopy(dict(schema.get("input", {"required": {}})))
    inputs.setdefault("required", {})
    outputs = list(schema.get("output", []))
    full: dict[str, Any] = {
        "input": inputs,
        "input_order": {k: list(v) for k, v in inputs.items()},
        "output": outputs,
        "output_is_list": [False] * len(outputs),
        "output_name": list(outputs),
        "name": name,
        "display_name": name,
        "description": "",
        "python_module": "custom_nodes.fake",
        "category": "fake",
        "output_node": False,
    }
    full.update({k: copy.deepcopy(v) for k, v in schema.items() if k != "input"})
    return full


__all__ = [
    "DEFAULT_MODELS",
    "Behaviour",
    "Dirs",
    "Engine",
    "ImageValue",
    "LatentValue",
    "NodeClass",
    "NodeResult",
    "NodeRun",
    "NoiseValue",
    "OpaqueValue",
    "ProcessingInterruptedError",
    "SigmasValue",
    "VideoValue",
    "build_catalog",
    "complete_schema",
    "generic_behaviour",
    "render_schema",
]
