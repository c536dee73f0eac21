"""One rosbag2 (MCAP, rosbags typestore ROS 2 Kilted) per scene, as a vehicle would record it.

Topics: ``/cameras/<cam>/image/compressed`` (CompressedImage, JPEG) and ``/cameras/<cam>/camera_info``
at the camera rate, ``/odom`` (Odometry, 50 Hz), ``/tf_static`` (base_link -> each camera, latched)
and ``/planning/command`` (String LEFT/RIGHT/FORWARD, 2 Hz). Stamps are simulated time: the
scene's nuScenes utimes. The ``odom`` frame is the ego pose at the scene start (identity at t=0);
the twist is in ``base_link`` (rear axle, REP-103). The command is the dataset label rule applied
to the expert's own next 3 s (``command_from_future``), so bags and training labels agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from evodrive_ros.core.conventions import FUTURE_TIMES_S, KEYFRAME_HZ, bicycle_yaw_rate, command_from_future

from .camera_rig import Camera
from .world import SceneLog

ODOM_HZ = 50
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
T = TYPESTORE.types
_ZERO = QosTime(0, 0)
LATCHED = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, _ZERO, _ZERO,
              QosLiveliness.AUTOMATIC, _ZERO, False)


def camera_topics(cam: Camera) -> tuple[str, str]:
    return f"/cameras/{cam.frame_id}/image/compressed", f"/cameras/{cam.frame_id}/camera_info"


def _header(utime: int, frame_id: str):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=utime // 1_000_000, nanosec=(utime % 1_000_000) * 1000),
                                    frame_id=frame_id)


def _quaternion(w: float, x: float, y: float, z: float):
    return T["geometry_msgs/msg/Quaternion"](x=float(x), y=float(y), z=float(z), w=float(w))


def _vector(cls: str, v) -> object:
    return T[cls](x=float(v[0]), y=float(v[1]), z=float(v[2]))


def ego_frame_future(log: SceneLog, t: float) -> np.ndarray:
    """(6, 2) future positions at +0.5 ... +3.0 s in the ego frame at ``t`` (clamped at the scene end)."""
    x, y, yaw = log.ego_at(t)[:3]
    future = np.array([log.ego_at(t + dt)[:2] for dt in FUTURE_TIMES_S]) - [x, y]
    c, s = np.cos(yaw), np.sin(yaw)
    return future @ np.array([[c, -s], [s, c]])


class SceneBagWriter:
    """Context manager: static topics and odometry/commands are written on entry and interleaved in
    time order with the camera frames given to ``add_camera_frame``."""

    def __init__(self, path: Path, rig: list[Camera], log: SceneLog, start_utime: int, end_s: float):
        self.path, self.rig, self.log, self.start_utime, self.end_s = path, rig, log, start_utime, end_s

    def __enter__(self) -> "SceneBagWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        add = self.writer.add_connection
        self.images = [add(camera_topics(c)[0], "sensor_msgs/msg/CompressedImage", typestore=TYPESTORE) for c in self.rig]
        self.infos = [add(camera_topics(c)[1], "sensor_msgs/msg/CameraInfo", typestore=TYPESTORE) for c in self.rig]
        odom = add("/odom", "nav_msgs/msg/Odometry", typestore=TYPESTORE)
        command = add("/planning/command", "std_msgs/msg/String", typestore=TYPESTORE, offered_qos_profiles=[LATCHED])
        tf_static = add("/tf_static", "tf2_msgs/msg/TFMessage", typestore=TYPESTORE, offered_qos_profiles=[LATCHED])
        self._write(tf_static, self.start_utime, self._tf_static())
        self.pending = sorted(self._odometry(odom) + self._commands(command), key=lambda item: item[1])
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._flush(until_utime=None)
        self.writer.close()

    def add_camera_frame(self, utime: int, jpegs: list[bytes]) -> None:
        self._flush(until_utime=utime)
        for cam, image_conn, info_conn, data in zip(self.rig, self.images, self.infos, jpegs):
            header = _header(utime, cam.frame_id)
            image = T["sensor_msgs/msg/CompressedImage"](header=header, format="jpeg", data=np.frombuffer(data, dtype=np.uint8))
            self._write(image_conn, utime, image)
            self._write(info_conn, utime, self._camera_info(cam, header))

    def _flush(self, until_utime: int | None) -> None:
        while self.pending and (until_utime is None or self.pending[0][1] <= until_utime):
            conn, utime, msg = self.pending.pop(0)
            self._write(conn, utime, msg)

    def _write(self, connection, utime: int, msg) -> None:
        self.writer.write(connection, utime * 1000, TYPESTORE.serialize_cdr(msg, connection.msgtype))

    def _tf_static(self):
        transforms = []
        for cam in self.rig:
            w, x, y, z = cam.quaternion
            transform = T["geometry_msgs/msg/Transform"](translation=_vector("geometry_msgs/msg/Vector3", cam.translation),
                                                          rotation=_quaternion(w, x, y, z))
            transforms.append(T["geometry_msgs/msg/TransformStamped"](header=_header(self.start_utime, "base_link"),
                                                                       child_frame_id=cam.frame_id, transform=transform))
        return T["tf2_msgs/msg/TFMessage"](transforms=transforms)

    def _camera_info(self, cam: Camera, header):
        k = cam.intrinsic
        projection = np.hstack([k, np.zeros((3, 1))])
        roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return T["sensor_msgs/msg/CameraInfo"](
            header=header, height=cam.height, width=cam.width, distortion_model="plumb_bob", d=np.zeros(5),
            k=k.flatten().astype(np.float64), r=np.eye(3).flatten(), p=projection.flatten().astype(np.float64),
            binning_x=0, binning_y=0, roi=roi)

    def _odometry(self, connection) -> list[tuple]:
        x0, y0, yaw0 = self.log.ego_at(0.0)[:3]
        c0, s0 = np.cos(yaw0), np.sin(yaw0)
        messages = []
        for t in np.arange(int(round(self.end_s * ODOM_HZ)) + 1) / ODOM_HZ:
            x, y, yaw, speed, _, steer = self.log.ego_at(t)
            dx, dy = x - x0, y - y0
            position = (c0 * dx + s0 * dy, -s0 * dx + c0 * dy, 0.0)
            heading = yaw - yaw0
            utime = self.start_utime + int(round(t * 1e6))
            pose = T["geometry_msgs/msg/Pose"](position=_vector("geometry_msgs/msg/Point", position),
                                               orientation=_quaternion(np.cos(heading / 2), 0, 0, np.sin(heading / 2)))
            twist = T["geometry_msgs/msg/Twist"](linear=_vector("geometry_msgs/msg/Vector3", (speed, 0, 0)),
                                                 angular=_vector("geometry_msgs/msg/Vector3", (0, 0, float(bicycle_yaw_rate(speed, steer)))))
            msg = T["nav_msgs/msg/Odometry"](
                header=_header(utime, "odom"), child_frame_id="base_link",
                pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.eye(6).flatten() * 1e-4),
                twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.eye(6).flatten() * 1e-4))
            messages.append((connection, utime, msg))
        return messages

    def _commands(self, connection) -> list[tuple]:
        messages = []
        for t in np.arange(int(round(self.end_s * KEYFRAME_HZ)) + 1) / KEYFRAME_HZ:
            utime = self.start_utime + int(round(t * 1e6))
            command = command_from_future(ego_frame_future(self.log, t))
            messages.append((connection, utime, T["std_msgs/msg/String"](data=command)))
        return messages
