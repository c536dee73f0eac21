"""The ground as a top-down raster (0.1 m/px, the nuScenes map-mask convention) and the scenery.

One label raster serves three purposes: the map mask (drivable area), the colour texture that
cameras warp onto the ground plane with a homography (exact perspective, one call per camera),
and the free space where buildings may stand. Pixel (u, v) is centred on global
(u * res, (rows - v) * res), exactly as ``nuscenes.utils.map_mask.MapMask`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .config import AppearanceConfig, RoadConfig
from .roads import RoadLayout, headings, offset_left, uniform, unit

MAP_RESOLUTION_M = 0.1
GRASS, SIDEWALK, ROAD, MARKING, CENTER_LINE, LOT = range(6)
DRIVABLE = (ROAD, MARKING, CENTER_LINE)
_SHIFT = 2  # cv2 fixed-point bits for sub-pixel drawing


@dataclass
class GroundMap:
    labels: np.ndarray  # (rows, cols) uint8 label raster

    @property
    def rows(self) -> int:
        return self.labels.shape[0]

    def to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """Global metres -> fractional raster pixels (u, v)."""
        xy = np.asarray(xy, dtype=float)
        return np.stack([xy[..., 0] / MAP_RESOLUTION_M, self.rows - xy[..., 1] / MAP_RESOLUTION_M], axis=-1)

    @property
    def texture_from_world(self) -> np.ndarray:
        """3x3 map from homogeneous ground (x, y, 1) to raster pixels."""
        r = MAP_RESOLUTION_M
        return np.array([[1 / r, 0, 0], [0, -1 / r, self.rows], [0, 0, 1]])

    def drivable_mask(self) -> np.ndarray:
        return np.isin(self.labels, DRIVABLE).astype(np.uint8) * 255

    def drivable_at(self, xy: np.ndarray) -> np.ndarray:
        """Whether each global point (N, 2) lies on the drivable area (False off the map)."""
        uv = np.floor(self.to_pixel(xy)).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < self.labels.shape[1]) & (uv[:, 1] >= 0) & (uv[:, 1] < self.rows)
        result = np.zeros(len(uv), dtype=bool)
        result[inside] = np.isin(self.labels[uv[inside, 1], uv[inside, 0]], DRIVABLE)
        return result

    def colour_texture(self, palette_bgr: np.ndarray) -> np.ndarray:
        return palette_bgr[self.labels]


def draw_ground(layout: RoadLayout, size_m: np.ndarray, rng: np.random.Generator) -> GroundMap:
    """Rasterise pavements, asphalt, junction squares, lane lines, zebras and stop lines."""
    cols, rows = (np.ceil(size_m / MAP_RESOLUTION_M).astype(int) + 1)
    ground = GroundMap(np.full((rows, cols), GRASS, dtype=np.uint8))
    half, walk = layout.half_width, layout.sidewalk_width
    scale = 1 << _SHIFT

    def px(xy: np.ndarray) -> np.ndarray:
        return np.round(ground.to_pixel(xy) * scale).astype(np.int32)

    def polyline(points: np.ndarray, label: int, width_m: float) -> None:
        thickness = max(1, int(round(width_m / MAP_RESOLUTION_M)))
        cv2.polylines(ground.labels, [px(points)], False, label, thickness, cv2.LINE_8, _SHIFT)

    def square(center: np.ndarray, heading: float, side: float, label: int) -> None:
        corners = [center + side / 2 * (unit(heading) * a + unit(heading + np.pi / 2) * b)
                   for a, b in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
        cv2.fillConvexPoly(ground.labels, px(np.array(corners)), label, cv2.LINE_8, _SHIFT)

    def rectangle(center: np.ndarray, heading: float, length: float, width: float, label: int) -> None:
        along, across = unit(heading) * length / 2, unit(heading + np.pi / 2) * width / 2
        corners = np.array([center + along + across, center - along + across, center - along - across, center + along - across])
        cv2.fillConvexPoly(ground.labels, px(corners), label, cv2.LINE_8, _SHIFT)

    for road in layout.roads:
        polyline(road, SIDEWALK, 2 * (half + walk))
    for inter in layout.intersections:
        square(inter.center, inter.heading, inter.size + 2 * walk, SIDEWALK)
    for road in layout.roads:
        polyline(road, ROAD, 2 * half)
    for inter in layout.intersections:
        square(inter.center, inter.heading, inter.size, ROAD)
    dashed_centre = rng.random() < 0.5
    for road in layout.roads:
        for side in (-1, 1):
            polyline(offset_left(road, side * layout.lane_width), MARKING, 0.15)
        if dashed_centre:
            for start in range(0, len(road) - 6, 18):  # 3 m dash, 6 m gap at 0.5 m spacing
                polyline(road[start:start + 7], MARKING, 0.15)
        else:
            for side in (-1, 1):
                polyline(offset_left(road, side * 0.12), CENTER_LINE, 0.12)
    for crossing in layout.crossings:
        across = crossing[1] - crossing[0]
        heading = float(np.arctan2(across[1], across[0])) + np.pi / 2
        for f in np.arange(0.05, 0.96, 0.1):
            rectangle(crossing[0] + f * across, heading, 3.0, 0.45, MARKING)
        # Stop line 2.5 m behind the zebra, across the lane that drives towards the junction.
        center = (crossing[0] + crossing[1]) / 2
        toward = _nearest_junction(layout, center) - center
        toward /= np.linalg.norm(toward)
        right = np.array([toward[1], -toward[0]])
        start = center - toward * 2.5
        polyline(np.stack([start, start + right * layout.lane_width]), MARKING, 0.4)
    return ground


def _nearest_junction(layout: RoadLayout, point: np.ndarray) -> np.ndarray:
    return min((inter.center for inter in layout.intersections), key=lambda c: float(np.linalg.norm(c - point)))


@dataclass
class Buildings:
    center: np.ndarray  # (N, 3)
    size: np.ndarray  # (N, 3) length, width, height
    yaw: np.ndarray  # (N,)
    colour: np.ndarray  # (N, 3) RGB

    def __len__(self) -> int:
        return len(self.yaw)


def place_buildings(ground: GroundMap, layout: RoadLayout, config: RoadConfig, rng: np.random.Generator) -> Buildings:
    """Boxes set back from the pavement wherever their footprint is free grass (marked LOT)."""
    rows = []
    kerb = layout.half_width + layout.sidewalk_width
    for road in layout.roads:
        h = headings(road)
        for side in (-1.0, 1.0):
            s = rng.uniform(0.0, 10.0)
            while s < (len(road) - 1) * 0.5:
                i = int(s / 0.5)
                length, depth = rng.uniform(8.0, 20.0), rng.uniform(8.0, 16.0)
                setback = rng.uniform(2.0, 8.0)
                center = road[i] + side * (kerb + setback + depth / 2) * unit(h[i] + np.pi / 2)
                if _footprint_free(ground, center, h[i], length + 2.0, depth + 2.0):
                    _fill_footprint(ground, center, h[i], length, depth)
                    shade = rng.integers(90, 220)
                    colour = np.clip(np.array([shade, shade * rng.uniform(0.85, 1.0), shade * rng.uniform(0.7, 1.0)]), 0, 255)
                    height = uniform(rng, config.building_height_m)
                    rows.append(((*center, height / 2), (length, depth, height), h[i], colour))
                s += length + uniform(rng, config.building_spacing_m) - 8.0
    if not rows:
        return Buildings(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)))
    center, size, yaw, colour = (np.array(c, dtype=float) for c in zip(*rows))
    return Buildings(center, size, yaw, colour.astype(np.uint8))


def _footprint_corners(ground: GroundMap, center: np.ndarray, heading: float, length: float, depth: float) -> np.ndarray:
    along, across = unit(heading) * length / 2, unit(heading + np.pi / 2) * depth / 2
    corners = np.array([center + along + across, center - along + across, center - along - across, center + along - across])
    return np.round(ground.to_pixel(corners)).astype(np.int32)


def _footprint_free(ground: GroundMap, center: np.ndarray, heading: float, length: float, depth: float) -> bool:
    corners = _footprint_corners(ground, center, heading, length, depth)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    if lo.min() < 0 or hi[0] >= ground.labels.shape[1] or hi[1] >= ground.labels.shape[0]:
        return False
    patch = np.zeros((hi[1] - lo[1] + 1, hi[0] - lo[0] + 1), dtype=np.uint8)
    cv2.fillConvexPoly(patch, corners - lo, 1)
    return bool(np.all(ground.labels[lo[1]:hi[1] + 1, lo[0]:hi[0] + 1][patch > 0] == GRASS))


def _fill_footprint(ground: GroundMap, center: np.ndarray, heading: float, length: float, depth: float) -> None:
    cv2.fillConvexPoly(ground.labels, _footprint_corners(ground, center, heading, length, depth), LOT)


def ground_palette(appearance: AppearanceConfig, brightness: float, rng: np.random.Generator) -> np.ndarray:
    """BGR colour of each label, jittered and scaled for this scene's lighting."""
    rgb = np.array([appearance.grass_rgb, appearance.sidewalk_rgb, appearance.asphalt_rgb, appearance.marking_rgb,
                    appearance.center_line_rgb, appearance.grass_rgb], dtype=float)
    rgb[LOT] *= 0.8  # trodden ground around buildings
    rgb += rng.normal(0.0, appearance.colour_jitter, size=rgb.shape)
    return np.clip(rgb[:, ::-1] * brightness, 0, 255).astype(np.uint8)
