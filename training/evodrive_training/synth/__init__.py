"""Procedural synthetic driving world that writes nuScenes-format datasets and rosbag2 recordings.

Public API: ``generate_dataset(out_dir, n_scenes, seed, config=None, bag=False, overwrite=False, workers=1)``
returns the dataroot; ``SynthConfig`` (``SynthConfig.from_yaml(path)``) holds every setting;
``ConfigError`` is raised for invalid settings. For a closed loop, ``build_world`` gives a
``World`` whose ``step(dt, EgoControl(...))`` lets something other than the expert drive.
"""

from .config import ConfigError, SynthConfig
from .dataset import build_scene, generate_dataset, scene_names
from .world import EgoControl, EgoState, World, build_world

__all__ = ["ConfigError", "SynthConfig", "generate_dataset", "build_scene", "scene_names",
           "World", "EgoState", "EgoControl", "build_world"]
