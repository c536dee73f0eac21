"""The picture of a replay: plans over time on a bird's-eye view, with the cameras at mid-drive."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def middle_camera_frames(bag: Path, max_frames: int = 6) -> list[tuple[str, np.ndarray]]:
    """Decoded compressed camera images at the middle of the bag, one per camera topic (those that
    could be read: a damaged bag, which the replay reports itself, gives fewer or none)."""
    import cv2
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        middle = (reader.start_time + reader.end_time) // 2
        conns = [c for c in reader.connections if c.msgtype == "sensor_msgs/msg/CompressedImage"]
        frames: dict[str, np.ndarray] = {}
        try:
            for conn, _, raw in reader.messages(connections=conns, start=middle):
                if conn.topic not in frames:
                    msg = reader.deserialize(raw, conn.msgtype)
                    bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
                    if bgr is not None:
                        frames[conn.topic] = bgr[..., ::-1]
                if len(frames) == len(conns) or len(frames) >= max_frames:
                    break
        except Exception:  # a damaged chunk (rosbags raises various errors): draw what was read
            pass
    order = [c.topic for c in conns]
    return [(t, frames[t]) for t in order if t in frames]


def draw_replay(
    bag: Path, anchor_topic: str, odom_xy: np.ndarray, plans_xy: np.ndarray, plan_times: np.ndarray, out_png: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thumbs = middle_camera_frames(bag)
    fig = plt.figure(figsize=(14, 7), constrained_layout=True)
    grid = fig.add_gridspec(3, 4)
    ax = fig.add_subplot(grid[:, :2])
    if len(odom_xy):
        ax.plot(odom_xy[:, 0], odom_xy[:, 1], color="black", lw=2, label="ego (odometry)")
    if len(plans_xy):
        colours = plt.cm.viridis(np.linspace(0, 1, len(plans_xy)))
        for plan, colour in zip(plans_xy[::max(1, len(plans_xy) // 60)], colours[::max(1, len(plans_xy) // 60)]):
            ax.plot(plan[:, 0], plan[:, 1], "-o", color=colour, ms=2, lw=1, alpha=0.8)
        sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(0.0, np.ptp(plan_times)))
        fig.colorbar(sm, ax=ax, label="plan time (s from first plan)")
    points = np.vstack([odom_xy.reshape(-1, 2), plans_xy.reshape(-1, 2)])
    if len(points):
        centre, half = (points.min(0) + points.max(0)) / 2, max(np.ptp(points, axis=0).max() / 2 + 5.0, 20.0)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m, odom)")
    ax.set_ylabel("y (m, odom)")
    ax.set_title(f"{bag.name}: {len(plans_xy)} plans (6 waypoints, 3 s)")
    ax.legend(loc="best")
    for i, (topic, image) in enumerate(thumbs[:6]):
        sub = fig.add_subplot(grid[i // 2, 2 + i % 2])
        sub.imshow(image)
        sub.set_title(topic.split("/")[2] if topic.count("/") >= 2 else topic, fontsize=8)
        sub.axis("off")
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
