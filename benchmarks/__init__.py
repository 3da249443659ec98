"""Benchmark harness: taxi-like data of any size, and timed runs of this pipeline against the TFX taxi template."""
