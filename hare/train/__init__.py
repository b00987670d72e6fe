"""The one training engine: pretraining and (later) SFT share its loop, checkpoints and parallelism."""
