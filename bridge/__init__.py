"""facebridge: live multi-face face swapping for OBS Studio over NDI."""

__version__ = "0.1.0"
