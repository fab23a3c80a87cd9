"""The control dock: a page for OBS's Custom Browser Docks, served by the bridge's HTTP API.

preview: the live picture (MJPEG), encoded only while a dock watches. photos: a dropped photo
checked and added as a target. routes: the dock's endpoints behind the API's guard. static/:
the page itself (plain HTML, CSS and JavaScript: no build step, nothing from the network).
"""
