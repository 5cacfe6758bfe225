"""Inference on OpenVINO CPU: batching, statistics, activation capture."""
