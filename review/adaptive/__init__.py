"""Adaptive routing: thresholds learned from human evidence, rollout stages, the circuit
breaker, confidence-shift detection and the offline replay."""
