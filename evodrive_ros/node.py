"""The ``evodrive_planner`` ROS 2 node: a thin layer over the ROS-free core.

The node declares its parameters (``planner_params``) with descriptions and ranges, rejects bad
values at start and on change, and reports its state on ``/diagnostics``. Without a model directory
it runs and says so, instead of publishing anything it cannot stand behind.
"""

from __future__ import annotations

import sys
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter

from evodrive_ros.planner_params import (
    NODE_NAME,
    PARAMS,
    SPECS,
    ParameterError,
    check_config,
    check_value,
    default_params_file,
    load_params_file,
)

_PARAM_TYPES = {
    str: Parameter.Type.STRING,
    bool: Parameter.Type.BOOL,
    float: Parameter.Type.DOUBLE,
    list: Parameter.Type.STRING_ARRAY,
}


class PlannerNode(Node):
    """Declares the planner's parameters and publishes its diagnostics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        defaults = load_params_file(default_params_file())
        for spec in PARAMS:
            descriptor = ParameterDescriptor(
                name=spec.name,
                type=_PARAM_TYPES[spec.type].value,
                description=spec.description
                + (f" ({' | '.join(spec.choices)})" if spec.choices else ""),
            )
            if spec.low is not None:
                descriptor.floating_point_range = [FloatingPointRange(from_value=spec.low, to_value=spec.high)]
            self.declare_parameter(spec.name, defaults[spec.name], descriptor)
        self.config = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        check_config(self.config)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0, self._publish_diagnostics)
        if not self.config["model_dir"]:
            self.get_logger().warning("no model_dir configured: planner runs without a model and publishes no paths")

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        updated = dict(self.config)
        try:
            for param in params:
                if param.name in SPECS:
                    check_value(SPECS[param.name], param.value)
                    updated[param.name] = param.value
            check_config(updated)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.config = updated
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name=f"{NODE_NAME}: planner", hardware_id=self.config["model_dir"] or "none")
        if self.config["model_dir"]:
            status.level, status.message = DiagnosticStatus.OK, "configured"
        else:
            status.level, status.message = DiagnosticStatus.WARN, "no model loaded"
        status.values = [KeyValue(key="backend", value=self.config["backend"])]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; exits 0 on SIGINT/SIGTERM, 2 on a bad configuration."""
    rclpy.init(args=argv if argv is not None else sys.argv)
    try:
        node = PlannerNode()
    except (ParameterError, rclpy.exceptions.ParameterException) as exc:
        print(f"{NODE_NAME}: invalid parameters: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
