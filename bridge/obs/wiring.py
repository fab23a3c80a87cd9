"""Wire the show inside OBS from one camera source: its NDI feed to the bridge, fail-closed, the bridge's picture on top.

On the camera source (`obs.camera_source`):
  1. DistroAV's NDI Filter first in its filter chain: it renders its *target* (what lies
     below it in the chain), and the first filter's target is the raw source, so the bridge
     gets the camera whatever the filters after it do. It only sends while its parent is
     showing (`obs_source_showing(parent)` in DistroAV's ndi-filter.cpp), so the camera item
     has to stay on program.
  2. A colour correction at opacity 0 right after it: the camera stays active and showing
     (GetSourceActive) and keeps its size, while its program contribution is fully
     transparent. Checked in Debian's OBS 29: with it, a program screenshot has no camera
     pixel. A crop also hides it but shrinks the source to 1×1 px, which wrecks the item's
     transform (and the copy of it for the bridge's source), so the crop is not used.
Then the bridge's NDI source goes right above the camera's item in each scene, with the
same position, rotation, crop and displayed size. If the bridge stops or stalls, program
shows the bridge's last frame (DistroAV keeps its content) or black; never the raw face.

Every function takes `request(type, data) -> dict` (one obs-websocket request) and says what
it did or refused in one line each. Nothing that exists is duplicated; what the user moved
stays where it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Request = Callable[..., dict[str, Any]]

NDI_FILTER_KIND = "ndi_filter"  # DistroAV's NDI Filter ("Dedicated NDI output")
NDI_INPUT_KIND = "ndi_source"
HIDE_FILTER_KIND = "color_filter_v2"  # OBS's own Color Correction
NDI_FILTER_NAME = "facebridge: camera to the bridge (NDI)"
HIDE_FILTER_NAME = "facebridge: hide the raw camera (fail closed)"
HIDE_FILTER_SETTINGS: dict[str, Any] = {"opacity": 0.0}
# Requests the wiring and the lip sync need; obs-websocket 5.0 lacks none, 4.x speaks another protocol.
REQUIRED_REQUESTS = (
    "GetSourceFilterList", "CreateSourceFilter", "SetSourceFilterIndex", "SetSourceFilterSettings",
    "SetSourceFilterEnabled", "RemoveSourceFilter", "GetSceneItemTransform", "SetSceneItemTransform",
    "SetSceneItemIndex", "GetInputAudioSyncOffset", "SetInputAudioSyncOffset", "GetGroupSceneItemList",
)
MISSING_FILTER_MESSAGE = (
    "OBS has no NDI Filter (filter kind 'ndi_filter' is missing): install DistroAV "
    "(https://distroav.org, OBS 31.1 or newer) and the NDI 6 runtime, then restart OBS; "
    "the camera is not wired, facebridge keeps sending its NDI output"
)
FILTER_KIND_MISSING = 607  # obs-websocket: InvalidFilterKind
NOT_FOUND = 600


def camera_ndi_name(show: str) -> str:
    """The NDI name the camera's filter sends as; the bridge receives `HOST (this)`."""
    return f"facebridge {show} camera"


def websocket_too_old(version: Mapping[str, Any]) -> str | None:
    """One line when this obs-websocket lacks requests the wiring needs, else None."""
    available = set(version.get("availableRequests") or ())
    missing = [name for name in REQUIRED_REQUESTS if name not in available]
    if not missing:
        return None
    return (f"obs-websocket {version.get('obsWebSocketVersion', '?')} is too old (no {', '.join(missing[:3])}"
            f"{'…' if len(missing) > 3 else ''}): update OBS to 29 or newer (31.1+ for DistroAV); "
            "the camera is not wired, facebridge keeps sending its NDI output")


def source_names(request: Request) -> tuple[list[str], list[str]]:
    """(input names, scene names) in OBS."""
    inputs = [i["inputName"] for i in request("GetInputList").get("inputs", [])]
    scenes = [s["sceneName"] for s in request("GetSceneList").get("scenes", [])]
    return inputs, scenes


def camera_missing(request: Request, camera: str) -> str | None:
    inputs, scenes = source_names(request)
    if camera in inputs or camera in scenes:
        return None
    names = ", ".join(f"'{n}'" for n in sorted(inputs + scenes)) or "none"
    return f"obs.camera_source: OBS has no source named '{camera}'; sources there: {names}"


def feedback_loop(request: Request, camera: str, bridge_source: str, bridge_ndi_name: str = "") -> str | None:
    """One line when the camera source holds the bridge's own picture (a scene or group nesting it)."""
    _inputs, scenes = source_names(request)
    if camera == bridge_source:
        return f"obs.camera_source '{camera}' is the bridge's own output source: refused (a feedback loop)"
    if camera not in scenes:
        kinds = {i["inputName"]: i.get("inputKind") for i in request("GetInputList").get("inputs", [])}
        item = {"sourceName": camera, "inputKind": kinds.get(camera)}
        if bridge_ndi_name and _shows_ndi(request, item, bridge_ndi_name):
            return (f"obs.camera_source '{camera}' receives the bridge's own NDI output: refused (a feedback loop); "
                    "name the camera itself")
        return None
    seen: set[str] = set()
    pending = [(camera, False, camera)]
    while pending:
        name, is_group, path = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        kind = "GetGroupSceneItemList" if is_group else "GetSceneItemList"
        for item in request(kind, {"sceneName": name}).get("sceneItems", []):
            source = item.get("sourceName", "")
            here = f"{path} > {source}"
            if source == bridge_source or (bridge_ndi_name and _shows_ndi(request, item, bridge_ndi_name)):
                return (f"obs.camera_source '{camera}' contains the bridge's own output ({here}): refused, "
                        "the bridge would swap its own picture (a feedback loop); name the camera itself")
            if item.get("isGroup") or source in scenes:
                pending.append((source, bool(item.get("isGroup")), here))
    return None


def _shows_ndi(request: Request, item: Mapping[str, Any], ndi_name: str) -> bool:
    if item.get("inputKind") != NDI_INPUT_KIND:
        return False
    settings = request("GetInputSettings", {"inputName": item["sourceName"]}).get("inputSettings", {})
    return str(settings.get("ndi_source_name", "")).endswith(f"({ndi_name})")


def ensure_filters(request: Request, camera: str, ndi_name: str, ndi_filter_kind: str = NDI_FILTER_KIND) -> list[str]:
    """The NDI filter first and the fail-closed filter right after it, on `camera`; idempotent. Lines say what changed."""
    actions: list[str] = []
    filters = request("GetSourceFilterList", {"sourceName": camera}).get("filters", [])
    by_name = {f["filterName"]: f for f in filters}
    ndi_settings = {"ndi_filter_ndiname": ndi_name}
    if NDI_FILTER_NAME in by_name:
        request("SetSourceFilterSettings", {"sourceName": camera, "filterName": NDI_FILTER_NAME,
                                            "filterSettings": ndi_settings, "overlay": True})
    else:
        request("CreateSourceFilter", {"sourceName": camera, "filterName": NDI_FILTER_NAME,
                                       "filterKind": ndi_filter_kind, "filterSettings": ndi_settings})
        request("SetSourceFilterIndex", {"sourceName": camera, "filterName": NDI_FILTER_NAME, "filterIndex": 0})
        actions.append(f"added the NDI filter '{NDI_FILTER_NAME}' (sends '{ndi_name}') first on '{camera}'")
    if HIDE_FILTER_NAME in by_name:
        request("SetSourceFilterSettings", {"sourceName": camera, "filterName": HIDE_FILTER_NAME,
                                            "filterSettings": HIDE_FILTER_SETTINGS, "overlay": True})
        if not by_name[HIDE_FILTER_NAME].get("filterEnabled", True):
            request("SetSourceFilterEnabled", {"sourceName": camera, "filterName": HIDE_FILTER_NAME, "filterEnabled": True})
            actions.append(f"re-enabled '{HIDE_FILTER_NAME}' on '{camera}': without it the raw camera reaches "
                                  "program whenever the bridge's picture is missing (`facebridge obs unwire` removes it)")
    else:
        request("CreateSourceFilter", {"sourceName": camera, "filterName": HIDE_FILTER_NAME,
                                       "filterKind": HIDE_FILTER_KIND, "filterSettings": HIDE_FILTER_SETTINGS})
        order = [f["filterName"] for f in request("GetSourceFilterList", {"sourceName": camera}).get("filters", [])]
        request("SetSourceFilterIndex", {"sourceName": camera, "filterName": HIDE_FILTER_NAME,
                                         "filterIndex": order.index(NDI_FILTER_NAME) + 1})
        actions.append(f"added '{HIDE_FILTER_NAME}' after it: the raw camera never reaches program")
    # the fail-closed filter must come after the NDI filter, or the bridge would receive a transparent picture
    order = [f["filterName"] for f in request("GetSourceFilterList", {"sourceName": camera}).get("filters", [])]
    if order.index(HIDE_FILTER_NAME) < order.index(NDI_FILTER_NAME):
        request("SetSourceFilterIndex", {"sourceName": camera, "filterName": HIDE_FILTER_NAME,
                                         "filterIndex": order.index(NDI_FILTER_NAME)})
        actions.append(f"moved '{HIDE_FILTER_NAME}' after the NDI filter on '{camera}'")
    return actions


def scenes_holding(request: Request, source: str, scenes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """scene → the first item of `source` directly in it, for each of `scenes` that has one."""
    found = {}
    for scene in scenes:
        for item in request("GetSceneItemList", {"sceneName": scene}).get("sceneItems", []):
            if item.get("sourceName") == source:
                found[scene] = item
                break
    return found


def scenes_holding_all(request: Request, source: str, scenes: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """(scene, item) for every item of `source` directly in `scenes`."""
    return [(scene, item) for scene in scenes
            for item in request("GetSceneItemList", {"sceneName": scene}).get("sceneItems", [])
            if item.get("sourceName") == source]


def over_transform(camera: Mapping[str, Any]) -> dict[str, Any]:
    """The transform that puts a source of the camera's size exactly where the camera's item shows.

    Position, rotation, alignment and crop are copied; the size is set as bounds equal to the
    camera's displayed size, so the bridge's source lands right even before its first frame
    (an NDI source is 0×0 until then). Flips (negative scales) are not repeated.
    """
    t = {key: camera[key] for key in ("positionX", "positionY", "rotation", "alignment",
                                      "cropLeft", "cropRight", "cropTop", "cropBottom") if key in camera}
    if camera.get("boundsType", "OBS_BOUNDS_NONE") != "OBS_BOUNDS_NONE":
        t.update({key: camera[key] for key in ("boundsType", "boundsAlignment", "boundsWidth", "boundsHeight")})
    else:
        # OBS scales the cropped picture: the displayed size is (source − crop) × scale
        width = (float(camera.get("sourceWidth", 0)) - camera.get("cropLeft", 0) - camera.get("cropRight", 0)) * abs(camera.get("scaleX", 1.0))
        height = (float(camera.get("sourceHeight", 0)) - camera.get("cropTop", 0) - camera.get("cropBottom", 0)) * abs(camera.get("scaleY", 1.0))
        # stretch: the bridge sends the camera's own size, so this repeats a non-uniform scale too
        t.update(boundsType="OBS_BOUNDS_STRETCH", boundsAlignment=0, boundsWidth=max(1.0, width), boundsHeight=max(1.0, height))
    return t


def place_over_camera(request: Request, scenes: Sequence[str], camera: str, source_name: str, input_kind: str,
                      input_settings: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The bridge's source right above the camera's item in each scene; returns (placed scenes, lines said).

    An item that already exists is left where the user put it; the input is created once.
    """
    said: list[str] = []
    cameras = scenes_holding(request, camera, scenes)
    for scene in scenes:
        if scene not in cameras:
            said.append(f"scene '{scene}' has no item of the camera '{camera}': the bridge's source is not placed there")
    inputs = {i["inputName"]: i for i in request("GetInputList").get("inputs", [])}
    existing = inputs.get(source_name)
    if existing is not None and existing.get("inputKind") != input_kind:
        said.append(f"OBS already has an input named '{source_name}' of kind '{existing.get('inputKind')}'; "
                    "rename it or set another obs.source_name — not touching it")
        return [], said
    if existing is not None:
        request("SetInputSettings", {"inputName": source_name, "inputSettings": dict(input_settings), "overlay": True})
    placed: list[str] = []
    for scene, camera_item in cameras.items():
        if scenes_holding(request, source_name, [scene]):
            placed.append(scene)  # the user's now: never moved, never duplicated
            continue
        if existing is None:
            created = request("CreateInput", {"sceneName": scene, "inputName": source_name, "inputKind": input_kind,
                                              "inputSettings": dict(input_settings), "sceneItemEnabled": True})
            existing = {"inputName": source_name, "inputKind": input_kind}
        else:
            created = request("CreateSceneItem", {"sceneName": scene, "sourceName": source_name, "sceneItemEnabled": True})
        item_id = int(created["sceneItemId"])
        camera_transform = request("GetSceneItemTransform", {"sceneName": scene, "sceneItemId": camera_item["sceneItemId"]})
        request("SetSceneItemTransform", {"sceneName": scene, "sceneItemId": item_id,
                                          "sceneItemTransform": over_transform(camera_transform["sceneItemTransform"])})
        camera_index = next(i["sceneItemIndex"] for i in request("GetSceneItemList", {"sceneName": scene})["sceneItems"]
                            if i["sceneItemId"] == camera_item["sceneItemId"])
        request("SetSceneItemIndex", {"sceneName": scene, "sceneItemId": item_id, "sceneItemIndex": camera_index + 1})
        said.append(f"placed '{source_name}' over '{camera}' in scene '{scene}'")
        placed.append(scene)
    return placed, said


def unwire(request: Request, camera: str, source_name: str, input_kind: str) -> list[str]:
    """Remove what the wiring added: both filters on the camera and the bridge's source. Lines say what went."""
    said = []
    if camera:
        try:
            names = [f["filterName"] for f in request("GetSourceFilterList", {"sourceName": camera}).get("filters", [])]
        except Exception as error:
            if getattr(error, "code", None) != NOT_FOUND:
                raise
            names = []
            said.append(f"camera '{camera}' is not in OBS: no filters to remove")
        for name in (NDI_FILTER_NAME, HIDE_FILTER_NAME):
            if name in names:
                request("RemoveSourceFilter", {"sourceName": camera, "filterName": name})
                said.append(f"removed the filter '{name}' from '{camera}'")
    inputs = {i["inputName"]: i for i in request("GetInputList").get("inputs", [])}
    if source_name in inputs and inputs[source_name].get("inputKind") == input_kind:
        # RemoveInput alone leaves the items of scenes not on program (OBS 29 drops them on a scene's video tick)
        _inputs, scenes = source_names(request)
        for scene, item in scenes_holding_all(request, source_name, scenes):
            request("RemoveSceneItem", {"sceneName": scene, "sceneItemId": item["sceneItemId"]})
        try:
            request("RemoveInput", {"inputName": source_name})  # still held elsewhere (a group, a projector)
        except Exception as error:
            if getattr(error, "code", None) != NOT_FOUND:  # gone with its last item
                raise
        said.append(f"removed the bridge's source '{source_name}' from every scene")
    return said


def describe(request: Request, camera: str, source_name: str) -> list[str]:
    """What is wired now, one line each (for `facebridge check`)."""
    lines = []
    if camera:
        missing = camera_missing(request, camera)
        if missing:
            return [missing]
        names = [f["filterName"] for f in request("GetSourceFilterList", {"sourceName": camera}).get("filters", [])]
        for name in (NDI_FILTER_NAME, HIDE_FILTER_NAME):
            where = f"filter #{names.index(name) + 1} of {len(names)}" if name in names else "not there"
            lines.append(f"camera '{camera}': '{name}' {where}")
    _inputs, scenes = source_names(request)
    holding = sorted(scenes_holding(request, source_name, scenes))
    lines.append(f"source '{source_name}' in scenes: {', '.join(holding) or 'none'}")
    return lines


def restore_offsets(request: Request, originals: Mapping[str, int]) -> list[str]:
    """Put each input's original audio sync offset back; lines say what was restored."""
    said = []
    for name, offset in originals.items():
        try:
            request("SetInputAudioSyncOffset", {"inputName": name, "inputAudioSyncOffset": int(offset)})
            said.append(f"audio sync offset of '{name}' restored to {int(offset)} ms")
        except Exception as error:
            if getattr(error, "code", None) is None:
                raise
            said.append(f"'{name}' is no longer in OBS: its offset cannot be restored")
    return said


def program_output_sender(ndi_source: str) -> bool:
    """Whether an NDI name is DistroAV's program (or preview) output, which holds the bridge's own picture."""
    name = ndi_source.strip()
    inner = name[name.rfind("(") + 1:].rstrip(")").strip() if "(" in name else name
    return inner in PROGRAM_OUTPUT_NAMES


# DistroAV's default names of its main (program) and preview outputs (src/config.cpp); older obs-ndi used "OBS".
PROGRAM_OUTPUT_NAMES = ("OBS PGM", "OBS Preview", "OBS")
