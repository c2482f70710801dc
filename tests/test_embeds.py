"""Pure embed builders stay within Discord's limits whatever ComfyUI or users send."""

from __future__ import annotations

from discomfy.bot.embeds import rejected_embed
from discomfy.comfy.errors import NodeError, WorkflowRejectedError

EMBED_TOTAL_LIMIT = 6000


def test_a_rejection_with_many_long_node_errors_fits_in_one_embed():
    errors = tuple(
        NodeError(str(i), "KSampler", "steps", "value_bigger_than_max", "x" * 2000, "d" * 500) for i in range(30)
    )
    embed = rejected_embed(
        WorkflowRejectedError("prompt_outputs_failed_validation", "failed", "", errors), workflow="w"
    )
    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert len(embed.fields) <= 25
    assert embed.fields[-1].value.startswith("and ")
