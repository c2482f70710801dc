"""The bot's own queue in front of the ComfyUI servers: fair turns across users, routing, failover."""

from discomfy.scheduler.fair import FairQueue
from discomfy.scheduler.scheduler import Scheduler

__all__ = ["FairQueue", "Scheduler"]
