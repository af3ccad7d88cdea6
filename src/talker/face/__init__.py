"""The face: portrait analysis, visemes, motion and the renderer."""
