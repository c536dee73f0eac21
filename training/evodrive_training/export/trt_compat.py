"""Will TensorRT's ONNX parser accept this graph? Checked without TensorRT (it cannot be installed here).

Checks: opset range, only default-domain operators that the parser supports, tensor types TensorRT
handles, constant ``axes`` where the parser requires them, and static input shapes except for the
inputs an optimisation profile covers. The operator list is onnx-tensorrt's ``docs/operators.md``
(github.com/onnx/onnx-tensorrt, main branch, "TensorRT 10.15 supports operators in the inclusive
range of opset 9 to opset 24"), restricted to rows marked ``Y``; TensorRT 10.0 parsed opsets 9-20,
so a graph above opset 20 gets a warning. This is a necessary check, not a sufficient one: only a
real engine build proves a graph (see ``tensorrt_backend``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import onnx

MIN_OPSET = 17
MAX_OPSET_TRT10_0 = 20
MAX_OPSET = 24

SUPPORTED_OPS = frozenset(
    """Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh Attention AveragePool BatchNormalization
    BlackmanWindow Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh
    CumSum DeformConv DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike
    Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
    Greater GreaterOrEqual GridSample GroupNormalization GRU HammingWindow HannWindow HardSigmoid HardSwish
    Hardmax Identity If ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less
    LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean
    MeanVarianceNormalization Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad
    ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform
    RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean
    ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RMSNormalization RNN
    RoiAlign RotaryEmbedding Round STFT ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Shrink
    Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
    Tanh TensorScatter ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor""".split()
)
# Operators whose ``axes`` input must be a build-time constant for the parser.
CONSTANT_AXES_OPS = frozenset(
    {"Squeeze", "Unsqueeze", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
     "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare"}
)
_P = onnx.TensorProto
SUPPORTED_TYPES = frozenset({_P.FLOAT, _P.FLOAT16, _P.BFLOAT16, _P.INT32, _P.INT64, _P.INT8, _P.UINT8, _P.BOOL})


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" (the parser will reject it) | "warning" (works with caveats)
    message: str


class TensorRtIncompatible(ValueError):
    """An exported graph that TensorRT's ONNX parser would reject."""


def check_graph(path: str | Path, profiled_inputs: Iterable[str] = ()) -> list[Finding]:
    """Findings for the graph at ``path``; ``profiled_inputs`` may have dynamic dimensions."""
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    findings: list[Finding] = []
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            if not MIN_OPSET <= opset.version <= MAX_OPSET:
                findings.append(Finding("error", f"opset {opset.version} outside {MIN_OPSET}..{MAX_OPSET}"))
            elif opset.version > MAX_OPSET_TRT10_0:
                findings.append(Finding("warning", f"opset {opset.version} needs a TensorRT newer than 10.0 (<= {MAX_OPSET_TRT10_0})"))
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            findings.append(Finding("error", f"{node.op_type} from custom domain {node.domain!r} needs a plugin"))
        elif node.op_type not in SUPPORTED_OPS:
            findings.append(Finding("error", f"operator {node.op_type} ({node.name}) is not supported by TensorRT's ONNX parser"))
        elif node.op_type in CONSTANT_AXES_OPS and len(node.input) > 1 and node.input[1] and node.input[1] not in constants:
            findings.append(Finding("error", f"{node.op_type} ({node.name}) has non-constant axes"))
    typed = [*graph.input, *graph.output, *graph.value_info]
    for value in typed:
        elem = value.type.tensor_type.elem_type
        if elem == _P.DOUBLE:
            findings.append(Finding("warning", f"{value.name} is float64: TensorRT casts it down to float32"))
        elif elem and elem not in SUPPORTED_TYPES:
            findings.append(Finding("error", f"{value.name} has type {_P.DataType.Name(elem)}, unsupported by TensorRT"))
    for init in graph.initializer:
        if init.data_type == _P.DOUBLE:
            findings.append(Finding("warning", f"initializer {init.name} is float64: TensorRT casts it down"))
        elif init.data_type not in SUPPORTED_TYPES:
            findings.append(Finding("error", f"initializer {init.name} has type {_P.DataType.Name(init.data_type)}"))
    profiled = set(profiled_inputs)
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        dynamic = [d.dim_param or "?" for d in dims if not d.HasField("dim_value")]
        if dynamic and value.name not in profiled:
            findings.append(Finding("error", f"input {value.name} has dynamic dims {dynamic} but no optimisation profile"))
    return findings


def assert_trt_compatible(path: str | Path, profiled_inputs: Iterable[str] = ()) -> list[Finding]:
    """Raise ``TensorRtIncompatible`` listing every error; return the warnings."""
    findings = check_graph(path, profiled_inputs)
    errors = [f.message for f in findings if f.severity == "error"]
    if errors:
        raise TensorRtIncompatible(f"{path}: " + "; ".join(errors))
    return findings
