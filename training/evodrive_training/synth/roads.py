"""Procedural road layout: a route of straights, curves and 4-way intersections, plus side arms.

Right-hand traffic, one lane per direction and a parking shoulder on each side. The route is built
with a turtle: each piece continues from the end of the last one, intersections are squares whose
arms are separate roads, and turns are quarter circles around the square's corners, so every lane
path is the route centreline offset by half a lane (the two turning lanes are concentric and never
cross). Layouts that fold back onto themselves are rejected and redrawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import RoadConfig

PATH_SPACING_M = 0.5  # every polyline is resampled to this arc-length step

MANEUVERS = ("LEFT", "RIGHT", "FORWARD")


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def unit(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)])


def resample(points: np.ndarray, spacing: float = PATH_SPACING_M) -> np.ndarray:
    """Polyline resampled at equal arc length (keeps both end points' positions)."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 1e-9])
    points, s = points[keep], np.concatenate([[0.0], np.cumsum(seg[seg > 1e-9])])
    n = max(2, int(round(s[-1] / spacing)) + 1)
    targets = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(targets, s, points[:, 0]), np.interp(targets, s, points[:, 1])], axis=1)


def headings(points: np.ndarray) -> np.ndarray:
    d = np.gradient(points, axis=0)
    return np.arctan2(d[:, 1], d[:, 0])


def offset_left(points: np.ndarray, distance: float) -> np.ndarray:
    """Polyline shifted sideways; positive ``distance`` is to the left of the direction of travel."""
    h = headings(points)
    return points + distance * np.stack([-np.sin(h), np.cos(h)], axis=1)


@dataclass
class Intersection:
    center: np.ndarray  # (2,)
    heading: float  # direction of the route when it enters
    size: float  # side of the square


@dataclass
class RoadLayout:
    lane_width: float
    shoulder_width: float
    sidewalk_width: float
    roads: list[np.ndarray]  # centrelines of two-way roads, (N, 2) each
    intersections: list[Intersection]
    route: np.ndarray  # centreline the ego follows, through the intersections, (N, 2)
    maneuvers: list[str]  # what the route does at each intersection, in order
    arms: list[np.ndarray] = field(default_factory=list)  # side-arm centrelines, from the square outwards
    crossings: list[np.ndarray] = field(default_factory=list)  # zebra crossing centre segments (2, 2)

    @property
    def half_width(self) -> float:
        """Half of the paved width: lane + shoulder."""
        return self.lane_width + self.shoulder_width

    def translated(self, shift: np.ndarray) -> "RoadLayout":
        """The same layout moved by ``shift`` (2,) metres."""
        return RoadLayout(
            self.lane_width, self.shoulder_width, self.sidewalk_width, [r + shift for r in self.roads],
            [Intersection(i.center + shift, i.heading, i.size) for i in self.intersections],
            self.route + shift, list(self.maneuvers), [a + shift for a in self.arms], [c + shift for c in self.crossings],
        )

    @property
    def ego_lane(self) -> np.ndarray:
        return resample(offset_left(self.route, -self.lane_width / 2))

    @property
    def oncoming_lane(self) -> np.ndarray:
        return resample(offset_left(self.route, self.lane_width / 2)[::-1])


def layout_extent(layout: RoadLayout, margin_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corner of everything drawn, widened by ``margin_m``."""
    points = np.concatenate(layout.roads)
    return points.min(axis=0) - margin_m, points.max(axis=0) + margin_m


def _straight(start: np.ndarray, heading: float, length: float) -> np.ndarray:
    n = max(2, int(np.ceil(length / PATH_SPACING_M)) + 1)
    return start + np.linspace(0.0, length, n)[:, None] * unit(heading)


def _arc(start: np.ndarray, heading: float, radius: float, angle: float) -> np.ndarray:
    """Circular arc from ``start``; positive ``angle`` turns left."""
    side = np.sign(angle)
    center = start + side * radius * unit(heading + np.pi / 2)
    n = max(2, int(np.ceil(abs(angle) * radius / PATH_SPACING_M)) + 1)
    phis = heading - side * np.pi / 2 + np.linspace(0.0, angle, n)
    return center + radius * np.stack([np.cos(phis), np.sin(phis)], axis=1)


def generate_layout(config: RoadConfig, rng: np.random.Generator, route_length_m: float, behind_m: float,
                    max_attempts: int = 200) -> RoadLayout:
    """Draw layouts until one does not overlap itself; ``behind_m`` of straight road precede the start."""
    for _ in range(max_attempts):
        layout = _draw_layout(config, rng, route_length_m, behind_m)
        if not _overlaps(layout):
            return layout
    raise RuntimeError("could not draw a non-overlapping road layout; loosen road.* settings")


def _draw_layout(config: RoadConfig, rng: np.random.Generator, route_length_m: float, behind_m: float) -> RoadLayout:
    lane, shoulder = uniform(rng, config.lane_width_m), uniform(rng, config.shoulder_width_m)
    sidewalk = uniform(rng, config.sidewalk_width_m)
    square = 2 * (lane + shoulder) + 2 * config.intersection_corner_m
    heading = float(rng.uniform(-np.pi, np.pi))
    cursor = np.zeros(2)
    road = [_straight(cursor, heading, behind_m + uniform(rng, (10.0, 30.0)))]
    route, roads, arms, intersections, maneuvers = list(road), [], [], [], []
    length = np.linalg.norm(road[0][-1] - road[0][0])
    since_intersection = length
    while length < route_length_m:
        cursor, pick = road[-1][-1], rng.random()
        if pick < config.intersection_probability and since_intersection > 20.0:
            roads.append(np.concatenate(road))
            center = cursor + unit(heading) * square / 2
            maneuver = (rng.choice(["LEFT", "RIGHT"]) if rng.random() < config.turn_probability else "FORWARD")
            turn = {"LEFT": np.pi / 2, "RIGHT": -np.pi / 2, "FORWARD": 0.0}[maneuver]
            through = _arc(cursor, heading, square / 2, turn) if turn else _straight(cursor, heading, square)
            intersections.append(Intersection(center, heading, square))
            maneuvers.append(str(maneuver))
            for arm_turn in (np.pi / 2, -np.pi / 2, 0.0):
                if arm_turn != turn:
                    arm_heading = heading + arm_turn
                    arms.append(_straight(center + unit(arm_heading) * square / 2, arm_heading, uniform(rng, (50.0, 90.0))))
            heading += turn
            route.append(through)
            road = [_straight(through[-1], heading, 12.0)]  # a short straight leaves every intersection
            since_intersection = 12.0
            length += np.abs(turn) * square / 2 + (0 if turn else square) + 12.0
        elif pick < config.intersection_probability + config.curve_probability:
            radius = uniform(rng, config.curve_radius_m)
            angle = np.deg2rad(uniform(rng, config.curve_angle_deg)) * rng.choice([-1.0, 1.0])
            road.append(_arc(cursor, heading, radius, angle))
            heading += angle
            length += abs(angle) * radius
            since_intersection += abs(angle) * radius
        else:
            piece = uniform(rng, config.straight_length_m)
            road.append(_straight(cursor, heading, piece))
            length += piece
            since_intersection += piece
        route.append(road[-1])
    roads.append(np.concatenate(road))
    crossings = [_zebra(arm[0], float(np.arctan2(*(arm[1] - arm[0])[::-1])), lane + shoulder) for arm in arms]
    for point, h in _route_arm_entries(roads, intersections):
        crossings.append(_zebra(point, h, lane + shoulder))
    return RoadLayout(
        lane_width=lane, shoulder_width=shoulder, sidewalk_width=sidewalk,
        roads=[resample(r) for r in roads] + [resample(a) for a in arms],
        intersections=intersections, route=resample(np.concatenate(route)), maneuvers=maneuvers,
        arms=[resample(a) for a in arms], crossings=crossings,
    )


def _route_arm_entries(roads: list[np.ndarray], intersections: list[Intersection]):
    """(point, outward heading) where each route road touches an intersection square."""
    for i, inter in enumerate(intersections):
        incoming, outgoing = roads[i], roads[i + 1]
        yield incoming[-1], float(np.arctan2(*(incoming[-2] - incoming[-1])[::-1]))
        yield outgoing[0], float(np.arctan2(*(outgoing[1] - outgoing[0])[::-1]))


def _zebra(edge_point: np.ndarray, outward: float, half_width: float) -> np.ndarray:
    """Centre segment of a zebra crossing 2 m outside a square edge, spanning the paved width."""
    center = edge_point + unit(outward) * 2.0
    across = unit(outward + np.pi / 2) * half_width
    return np.stack([center - across, center + across])


def _overlaps(layout: RoadLayout) -> bool:
    """True if two road stretches come too close, unless both are arms of the same intersection near it."""
    clearance = 2 * (layout.half_width + layout.sidewalk_width) + 6.0
    n_route_roads = len(layout.intersections) + 1
    points, road_ids, arc = [], [], []
    for i, road in enumerate(layout.roads):
        step = road[::4]
        points.append(step)
        road_ids.append(np.full(len(step), i))
        arc.append(np.arange(len(step)) * 4 * PATH_SPACING_M)
    points, road_ids, arc = np.concatenate(points), np.concatenate(road_ids), np.concatenate(arc)
    attached = np.zeros((len(points), len(layout.intersections)), dtype=bool)  # point belongs to a road of it, near it
    for k, inter in enumerate(layout.intersections):
        arm_ids = n_route_roads + 2 * k + np.arange(2)
        member = np.isin(road_ids, [k, k + 1, *arm_ids])
        attached[:, k] = member & (np.linalg.norm(points - inter.center, axis=1) < inter.size / 2 + clearance)
    dist = np.linalg.norm(points[:, None] - points[None], axis=2)
    same_road_close = (road_ids[:, None] == road_ids[None]) & (np.abs(arc[:, None] - arc[None]) < 2 * clearance)
    same_junction = (attached.astype(np.int32) @ attached.T.astype(np.int32)) > 0
    return bool(np.any((dist < clearance) & ~same_road_close & ~same_junction))
