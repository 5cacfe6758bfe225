"""Structured (channel) pruning to a measured speed-up: which channels (cost.py, a structured
second-order cost over each channel's input columns of the consumer), how many per group (search.py, a
DP over latencies measured on this CPU by latency.py), and the rebuild (least squares, then the
sequential refit and the global recovery)."""
