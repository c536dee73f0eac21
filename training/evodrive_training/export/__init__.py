"""ONNX export of a trained checkpoint to a model directory, and the PyTorch reference planner."""
