"""Engine MoE paths transcribed for `boundcheck audit --target` (see README, "Engines")."""
