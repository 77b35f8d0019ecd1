"""The ``edgesr`` command line. Each command lives in its own small module and imports
its stage (torch, ONNX Runtime, TensorRT) only when it runs."""
