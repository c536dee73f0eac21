"""``generate_dataset``: simulate scenes, render them, write a nuScenes dataroot (and rosbags).

Output is built in a partial folder beside ``out_dir`` and renamed into place only when complete
(``core.safe_output.output_dir``), so an interrupted run never leaves a dataset that looks whole,
and ``--overwrite`` replaces only a dataset synth wrote.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evodrive_ros.core.conventions import KEYFRAME_HZ
from evodrive_ros.core.safe_output import output_dir

from .camera_rig import build_rig
from .can_bus import write_can_bus
from .config import SynthConfig
from .ground import GroundMap, draw_ground, ground_palette, place_buildings
from .nuscenes_writer import NuScenesWriter
from .render import Parts, SceneRenderer, building_parts, frame_parts
from .roads import layout_extent, uniform, unit
from .world import MAP_MARGIN_M, SceneLog, World, build_world, simulate

# Scene numbers the devkit's NuScenesCanBus refuses ("no CAN bus data" in real nuScenes): skipped.
CAN_BUS_BLACKLIST = frozenset([*range(161, 177), *range(309, 315)])
SCENE_SPACING_US = 100_000_000  # scenes start 100 s apart on the synthetic clock


def scene_names(n_scenes: int) -> list[str]:
    numbers = (i for i in range(1, 10_000) if i not in CAN_BUS_BLACKLIST)
    return [f"scene-{next(numbers):04d}" for _ in range(n_scenes)]


def keyframe_count(config: SynthConfig) -> int:
    return int(config.scene.duration_s * KEYFRAME_HZ)


@dataclass
class RenderedScene:
    """A simulated scene with everything needed to draw its cameras at any time."""

    log: SceneLog
    renderer: SceneRenderer
    scenery: Parts

    def frame(self, t: float, with_ids: bool = False, with_dense: bool = False):
        pose, active = self.log.agents_at(t)
        parts = frame_parts(self.log.agents, pose, active, self.scenery, self.log.lights, t)
        return self.renderer.render(self.log.ego_at(t), parts, with_ids=with_ids, with_dense=with_dense)


def scene_world(config: SynthConfig, seed: int, index: int) -> World:
    """The world of scene ``index`` of a dataset with ``seed`` at its start: deterministic in (seed, index, config)."""
    return build_world(config, np.random.default_rng([seed, index]))


def build_scene(config: SynthConfig, seed: int, index: int) -> RenderedScene:
    """Scene ``index`` of a dataset with ``seed``, simulated with the expert driving."""
    world = scene_world(config, seed, index)
    log = simulate(world, (keyframe_count(config) - 1) / KEYFRAME_HZ, config.scene.sim_hz)
    renderer, scenery = scene_renderer(config, seed, index, world)
    return RenderedScene(log, renderer, scenery)


def scene_renderer(config: SynthConfig, seed: int, index: int, world: World) -> tuple[SceneRenderer, Parts]:
    """The cameras' renderer of scene ``index`` (ground, lighting) and its static scenery (buildings)."""
    looks = np.random.default_rng([seed, index, 1])  # appearance stream: independent of the traffic draw
    _, high = layout_extent(world.layout, MAP_MARGIN_M)
    ground = draw_ground(world.layout, high, looks)
    buildings = place_buildings(ground, world.layout, config.road, looks)
    appearance = config.appearance
    brightness = uniform(looks, appearance.brightness)
    elevation = np.deg2rad(uniform(looks, appearance.sun_elevation_deg))
    sun = np.append(unit(looks.uniform(-np.pi, np.pi)) * np.cos(elevation), np.sin(elevation))
    rig = build_rig(config.camera.width, config.camera.height)
    renderer = SceneRenderer(rig, ground, ground_palette(appearance, brightness, looks), buildings, config.camera,
                             appearance.sky_rgb, appearance.horizon_rgb, brightness, sun)
    return renderer, building_parts(buildings, first_owner=len(world.agents))


def generate_dataset(out_dir: Path, n_scenes: int, seed: int, config: SynthConfig | None = None,
                     bag: bool = False, overwrite: bool = False, workers: int = 1) -> Path:
    """Write ``n_scenes`` synthetic scenes as a nuScenes dataroot at ``out_dir`` (returned).

    With ``bag``, each scene is also recorded as a rosbag2 (MCAP) under ``out_dir/bags/<scene>/``.
    ``workers`` > 1 simulates and renders that many scenes at once in worker processes (a scene
    depends only on (config, seed, index)); the files are written in scene order by this process,
    so the dataset is the one a single worker writes: images, masks and bags byte for byte, a few CAN
    bus floats at most in their last bit (a fresh process's BLAS may round differently).
    """
    config = config or SynthConfig()
    out_dir = Path(out_dir)
    if n_scenes < 1:
        raise ValueError(f"n_scenes: expected at least 1, got {n_scenes}")
    if workers < 1:
        raise ValueError(f"workers: expected at least 1, got {workers}")
    with output_dir(out_dir, "evodrive synth", overwrite=overwrite) as partial:
        _write(partial, n_scenes, seed, config, bag, workers)
    return out_dir


@dataclass
class RenderedFrames:
    """What a worker hands back for one scene: its log, ground map and, per frame, the six JPEGs
    (and at keyframes the label buffers the config asks for)."""

    log: SceneLog
    ground: GroundMap
    frames: list[tuple[list[bytes], list | None]]


def render_scene_frames(config: SynthConfig, seed: int, frame_times: np.ndarray, keyframes: np.ndarray, index: int) -> RenderedFrames:
    """Scene ``index``'s frames at ``frame_times``, label buffers at those flagged in ``keyframes``."""
    scene = build_scene(config, seed, index)
    labels = config.write_instance_masks or config.write_dense_labels
    frames = []
    for t, keyframe in zip(frame_times, keyframes):
        images = scene.frame(t, with_ids=keyframe and config.write_instance_masks, with_dense=keyframe and config.write_dense_labels)
        frames.append(([scene.renderer.encode(image) for image, _ in images], [b for _, b in images] if keyframe and labels else None))
    return RenderedFrames(scene.log, scene.renderer.ground, frames)


def _rendered_scenes(render, n_scenes: int, workers: int):
    """``render(index)`` for every scene in order, ``workers`` scenes at a time. The workers run
    ahead of the caller, who writes the files, by at most ``2 * workers`` scenes: they never wait
    for the writing (as they did when handed one batch at a time), and the frames held stay bounded."""
    if workers == 1:
        yield from map(render, range(n_scenes))
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:  # no fork of a process running threads (torch, tqdm)
        pending: deque = deque()
        for index in range(n_scenes):
            pending.append(pool.apply_async(render, (index,)))
            if len(pending) == 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _write(root: Path, n_scenes: int, seed: int, config: SynthConfig, bag: bool, workers: int) -> None:
    rig = build_rig(config.camera.width, config.camera.height)
    writer = NuScenesWriter(root, config.version, seed, rig, config.location)
    (root / "can_bus").mkdir()
    n_keyframes = keyframe_count(config)
    end_s = (n_keyframes - 1) / KEYFRAME_HZ
    per_keyframe = config.scene.camera_hz / KEYFRAME_HZ if bag else 1
    if bag and per_keyframe != int(per_keyframe):
        raise ValueError(f"scene.camera_hz must be a multiple of {KEYFRAME_HZ:g} Hz, got {config.scene.camera_hz}")
    frame_times = np.arange((n_keyframes - 1) * int(per_keyframe) + 1) / (KEYFRAME_HZ * per_keyframe)
    keyframes = np.arange(len(frame_times)) % int(per_keyframe) == 0
    render = partial(render_scene_frames, config, seed, frame_times, keyframes)
    with tqdm(total=n_scenes * len(frame_times), unit="frame", desc="synth") as bar:
        for index, (name, scene) in enumerate(zip(scene_names(n_scenes), _rendered_scenes(render, n_scenes, workers))):
            start_utime = config.scene.start_utime + index * SCENE_SPACING_US
            date = time.strftime("%Y-%m-%d", time.gmtime(start_utime / 1e6))
            records = writer.begin_scene(name, f"synthetic drive; at intersections: {', '.join(scene.log.layout.maneuvers) or 'none'}",
                                         scene.ground, date)
            bag_writer = _bag_writer(root / "bags" / name, rig, scene.log, start_utime, end_s) if bag else nullcontext()
            with bag_writer as recorder:
                for t, keyframe, (jpegs, buffers) in zip(frame_times, keyframes, scene.frames):
                    utime = start_utime + int(round(t * 1e6))
                    if keyframe:
                        _add_keyframe(writer, records, scene.log, config, t, utime, jpegs, buffers)
                    if recorder is not None:
                        recorder.add_camera_frame(utime, jpegs)
            bar.update(len(frame_times))
            writer.end_scene(records)
            write_can_bus(root / "can_bus", name, scene.log, start_utime, end_s)
    writer.finish()


def _add_keyframe(writer: NuScenesWriter, records, log: SceneLog, config: SynthConfig, t: float, utime: int,
                  jpegs: list[bytes], buffers: list | None) -> None:
    ego = log.ego_at(t)
    pose, active = log.agents_at(t)
    in_range = np.hypot(pose[:, 0] - ego[0], pose[:, 1] - ego[1]) < config.scene.annotation_range_m
    writer.add_keyframe(records, utime, ego, jpegs, buffers, log.agents, pose, active & in_range, log.keyframe_cause(t))


def _bag_writer(path: Path, rig, log: SceneLog, start_utime: int, end_s: float):
    from .bag_writer import SceneBagWriter  # rosbags is only needed with --bag

    return SceneBagWriter(path, rig, log, start_utime, end_s)
