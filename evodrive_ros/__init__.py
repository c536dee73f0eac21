"""evodrive runtime: everything a vehicle needs to run the distilled EvoDriveVLA planner.

This package never imports torch, transformers or nuscenes at module level: a vehicle installs the
runtime only. The training side (``evodrive_training``) depends on it, never the other way round.
"""

__version__ = "0.1.0"
