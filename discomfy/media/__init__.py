"""Media handling between ComfyUI outputs and Discord uploads; no discord import here."""

from __future__ import annotations

from discomfy.media.fit import first_frame, fit_for_upload
from discomfy.media.models import (
    EMBEDDABLE_IMAGES,
    INPUT_IMAGE_SUFFIXES,
    STILL_IMAGE_SUFFIXES,
    FittedFile,
    MediaError,
    MediaType,
    TooLarge,
)
from discomfy.media.sniff import detect_media_type, media_type_from_name, sniff_input_image, upload_name
from discomfy.media.video import VideoInfo, find_ffmpeg, parse_probe, probe

__all__ = [
    "EMBEDDABLE_IMAGES",
    "INPUT_IMAGE_SUFFIXES",
    "STILL_IMAGE_SUFFIXES",
    "FittedFile",
    "MediaError",
    "MediaType",
    "TooLarge",
    "VideoInfo",
    "detect_media_type",
    "find_ffmpeg",
    "first_frame",
    "fit_for_upload",
    "media_type_from_name",
    "parse_probe",
    "probe",
    "sniff_input_image",
    "upload_name",
]
