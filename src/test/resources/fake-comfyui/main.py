"""A fake ComfyUI for comfyctl's tests.

Started like the real one (`<python> main.py [flags]`), it parses ComfyUI's flags, prints ComfyUI's
start-up lines, serves ComfyUI's HTTP and WebSocket API on one port and runs prompts of a few
built-in nodes that need no GPU. Standard library only: no pip package can be installed where the
tests run.

Behaviour switches are read once at start from `fake.json` next to this file (see load_behaviour).
Every start appends `<unix time> <pid> <argv>` to `fake-starts.log` next to this file.

Fake-only endpoints (no /api copy):
  POST /fake/hang            from now on accept requests but never answer them
  POST /fake/crash?code=N    answer, then exit with status N (default 1)
  GET  /fake/env             argv, pid, selected environment variables, /free calls
  GET  /fake/bytes?n=N       N bytes, byte i = i % 256; &chunked=1 for chunked encoding
  POST /fake/sink            read the whole body; answer {"bytes", "sha256"}
  *    /fake/echo[/...]      answer method, path, query, headers, body_length, client
A custom_nodes/<name>/ folder holding a file named fake-import-fail is reported as IMPORT FAILED.
"""
import argparse
import base64
import email.parser
import email.policy
import hashlib
import ipaddress
import json
import mimetypes
import os
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSTALL_DIR = os.path.dirname(os.path.abspath(__file__))
COMFYUI_VERSION = "0.3.40"
PYTORCH_VERSION = "2.5.1+cu124"
MIB = 1024 * 1024

DEFAULT_DEVICES = [{"name": "NVIDIA GeForce RTX 4090", "vram_total": 24564 * MIB, "vram_free": 23000 * MIB}]

MODEL_EXTENSIONS = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".gguf"}
# Folder names as ComfyUI's folder_paths registers them, with the directories each one searches.
MODEL_FOLDERS = {
    "checkpoints": ["checkpoints"],
    "configs": ["configs"],
    "loras": ["loras"],
    "vae": ["vae"],
    "text_encoders": ["text_encoders", "clip"],
    "diffusion_models": ["unet", "diffusion_models"],
    "clip_vision": ["clip_vision"],
    "style_models": ["style_models"],
    "embeddings": ["embeddings"],
    "diffusers": ["diffusers"],
    "vae_approx": ["vae_approx"],
    "controlnet": ["controlnet", "t2i_adapter"],
    "gligen": ["gligen"],
    "upscale_models": ["upscale_models"],
    "hypernetworks": ["hypernetworks"],
    "photomaker": ["photomaker"],
    "classifiers": ["classifiers"],
}
LEGACY_FOLDER_NAMES = {"clip": "text_encoders", "unet": "diffusion_models"}

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def log(*parts):
    print(*parts, flush=True)


def build_parser():
    """ComfyUI's flags (comfy/cli_args.py) that comfyctl may pass, with the same argparse shapes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=str, default="127.0.0.1", metavar="IP", nargs="?", const="0.0.0.0")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--enable-cors-header", type=str, default=None, metavar="ORIGIN", nargs="?", const="*")
    parser.add_argument("--max-upload-size", type=float, default=100)
    parser.add_argument("--extra-model-paths-config", type=str, default=None, metavar="PATH", nargs="+",
                        action="append")
    parser.add_argument("--output-directory", type=str, default=None)
    parser.add_argument("--temp-directory", type=str, default=None)
    parser.add_argument("--input-directory", type=str, default=None)
    parser.add_argument("--auto-launch", action="store_true")
    parser.add_argument("--disable-auto-launch", action="store_true")
    parser.add_argument("--cuda-device", type=int, default=None, metavar="DEVICE_ID")
    malloc = parser.add_mutually_exclusive_group()
    malloc.add_argument("--cuda-malloc", action="store_true")
    malloc.add_argument("--disable-cuda-malloc", action="store_true")
    vram = parser.add_mutually_exclusive_group()
    for flag in ("--gpu-only", "--highvram", "--normalvram", "--lowvram", "--novram", "--cpu"):
        vram.add_argument(flag, action="store_true")
    parser.add_argument("--preview-method", type=str, default="none", choices=["none", "auto", "latent2rgb", "taesd"])
    parser.add_argument("--dont-print-server", action="store_true")
    parser.add_argument("--verbose", default="INFO", const="DEBUG", nargs="?",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    parser.add_argument("--multi-user", action="store_true")
    return parser


def load_behaviour():
    """Keys of fake.json (all optional):

    startup_delay_seconds, exit_at_startup, crash_after_seconds, crash_exit_code (default 1),
    hang_after_seconds, ignore_sigterm, spawn_child, prompt_seconds (default 0.2),
    ws_echo (send every WebSocket data message back to its sender, for round-trip benchmarks),
    cache_nodes (reuse a node's result when it and its inputs are as in the last prompt that ran it, and list it in
    execution_cached with no executed message, as ComfyUI did before 2024; its output is in the history only),
    devices ([{name, vram_total, vram_free, ...}], bytes; filtered by CUDA_VISIBLE_DEVICES like torch).
    """
    path = os.path.join(INSTALL_DIR, "fake.json")
    behaviour = {"prompt_seconds": 0.2, "crash_exit_code": 1, "devices": DEFAULT_DEVICES}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            behaviour.update(json.load(f))
    return behaviour


def record_start():
    with open(os.path.join(INSTALL_DIR, "fake-starts.log"), "a", encoding="utf-8") as f:
        f.write(f"{int(time.time())} {os.getpid()} {' '.join(sys.argv)}\n")


class Settings:
    """Everything decided at start-up: parsed flags, fake.json, directories and visible devices."""

    def __init__(self, args, behaviour):
        self.args = args
        self.behaviour = behaviour
        self.output_dir = os.path.abspath(args.output_directory or os.path.join(INSTALL_DIR, "output"))
        self.input_dir = os.path.abspath(args.input_directory or os.path.join(INSTALL_DIR, "input"))
        self.temp_dir = os.path.abspath(args.temp_directory or os.path.join(INSTALL_DIR, "temp"))
        self.models_dir = os.path.join(INSTALL_DIR, "models")
        self.max_upload_bytes = int(args.max_upload_size * MIB)
        self.devices = self._visible_devices()
        self.free_requests = []

    def _visible_devices(self):
        if self.args.cpu:
            return []
        physical = self.behaviour["devices"]
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is None:
            return list(physical)
        chosen = []
        # torch stops at the first entry that is not a valid index.
        for entry in visible.split(","):
            entry = entry.strip()
            if not entry.isdigit() or int(entry) >= len(physical):
                break
            chosen.append(physical[int(entry)])
        return chosen

    def dir_for_type(self, kind):
        return {"output": self.output_dir, "input": self.input_dir, "temp": self.temp_dir}.get(kind)

    def system_stats(self):
        ram_total, ram_free = ram_figures()
        backend = "native" if self.args.disable_cuda_malloc else "cudaMallocAsync"
        if self.args.cpu:
            devices = [{"name": "cpu", "type": "cpu", "index": None, "vram_total": ram_total, "vram_free": ram_free,
                        "torch_vram_total": ram_total, "torch_vram_free": ram_free}]
        else:
            devices = []
            for index, device in enumerate(self.devices):
                devices.append({
                    "name": f"cuda:{index} {device['name']} : {backend}",
                    "type": device.get("type", "cuda"),
                    "index": index,
                    "vram_total": device.get("vram_total", 0),
                    "vram_free": device.get("vram_free", 0),
                    "torch_vram_total": device.get("torch_vram_total", 0),
                    "torch_vram_free": device.get("torch_vram_free", 0),
                })
        return {
            "system": {
                "os": os.name,
                "ram_total": ram_total,
                "ram_free": ram_free,
                "comfyui_version": COMFYUI_VERSION,
                "required_frontend_version": "1.21.7",
                "python_version": sys.version,
                "pytorch_version": PYTORCH_VERSION,
                "embedded_python": False,
                "argv": sys.argv,
            },
            "devices": devices,
        }


def ram_figures():
    figures = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, value = line.split(":", 1)
                figures[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return figures.get("MemTotal", 0), figures.get("MemAvailable", 0)


# ---------------------------------------------------------------- images

def png_bytes(width, height, rgb):
    """A solid-colour RGB PNG, built by hand so the fake needs no imaging library."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    pixel = bytes([(rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF])
    raw = (b"\x00" + pixel * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", head[16:24])
    return 64, 64


# ---------------------------------------------------------------- nodes

class Interrupted(Exception):
    pass


def run_empty_image(settings, width, height, batch_size, color):
    return ({"width": width, "height": height, "batch": batch_size, "color": color},), None


def run_image_invert(settings, image):
    return (dict(image, color=image["color"] ^ 0xFFFFFF),), None


def run_load_image(settings, image):
    width, height = png_size(os.path.join(settings.input_dir, image))
    picture = {"width": width, "height": height, "batch": 1, "color": 0x808080}
    mask = {"width": width, "height": height, "batch": 1, "color": 0}
    return (picture, mask), None


def save_images(images, folder_root, prefix, kind):
    subfolder = os.path.dirname(os.path.normpath(prefix))
    filename = os.path.basename(os.path.normpath(prefix))
    folder = os.path.abspath(os.path.join(folder_root, subfolder))
    if os.path.commonpath((folder_root, folder)) != folder_root:
        raise RuntimeError("**** ERROR: Saving image outside the output folder is not allowed.")
    os.makedirs(folder, exist_ok=True)
    counter = next_counter(folder, filename)
    results = []
    for _ in range(images["batch"]):
        name = f"{filename}_{counter:05}_.png"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(png_bytes(images["width"], images["height"], images["color"]))
        results.append({"filename": name, "subfolder": subfolder, "type": kind})
        counter += 1
    return results


def next_counter(folder, filename):
    highest = 0
    for existing in os.listdir(folder):
        digits = existing[len(filename) + 1:-5]
        if existing.startswith(filename + "_") and existing.endswith("_.png") and digits.isdigit():
            highest = max(highest, int(digits))
    return highest + 1


def run_save_image(settings, images, filename_prefix):
    return (), {"images": save_images(images, settings.output_dir, filename_prefix, "output")}


def run_preview_image(settings, images):
    prefix = "ComfyUI_temp_" + uuid.uuid4().hex[:5]
    return (), {"images": save_images(images, settings.temp_dir, prefix, "temp")}


def int_input(default, minimum, maximum, **extra):
    return ["INT", dict({"default": default, "min": minimum, "max": maximum, "step": 1}, **extra)]


NODES = {
    "EmptyImage": {
        "input": {"required": {"width": int_input(512, 1, 16384), "height": int_input(512, 1, 16384),
                               "batch_size": int_input(1, 1, 4096), "color": int_input(0, 0, 0xFFFFFF, display="color")}},
        "output": ["IMAGE"], "output_node": False, "category": "image", "run": run_empty_image,
    },
    "ImageInvert": {
        "input": {"required": {"image": ["IMAGE"]}},
        "output": ["IMAGE"], "output_node": False, "category": "image", "run": run_image_invert,
    },
    "LoadImage": {
        "input": {"required": {"image": ["FILES", {"image_upload": True}]}},
        "output": ["IMAGE", "MASK"], "output_node": False, "category": "image", "run": run_load_image,
    },
    "SaveImage": {
        "input": {"required": {"images": ["IMAGE", {"tooltip": "The images to save."}],
                               "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
                  "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}},
        "output": [], "output_node": True, "category": "image", "run": run_save_image,
    },
    "PreviewImage": {
        "input": {"required": {"images": ["IMAGE"]}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}},
        "output": [], "output_node": True, "category": "image", "run": run_preview_image,
    },
}


def input_files(settings):
    found = []
    for root, _, names in os.walk(settings.input_dir):
        for name in names:
            found.append(os.path.relpath(os.path.join(root, name), settings.input_dir).replace(os.sep, "/"))
    return sorted(found)


def object_info(settings, class_type):
    node = NODES[class_type]
    inputs = json.loads(json.dumps(node["input"]))
    if class_type == "LoadImage":
        inputs["required"]["image"][0] = input_files(settings)
    return {
        "input": inputs,
        "input_order": {section: list(values) for section, values in inputs.items()},
        "output": node["output"],
        "output_is_list": [False] * len(node["output"]),
        "output_name": node["output"],
        "name": class_type,
        "display_name": class_type,
        "description": "",
        "python_module": "nodes",
        "category": node["category"],
        "output_node": node["output_node"],
    }


# ---------------------------------------------------------------- prompt validation (execution.validate_prompt)

def prompt_error(kind, message, details=""):
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def input_error(kind, message, details, name):
    return {"type": kind, "message": message, "details": details, "extra_info": {"input_name": name}}


def validate_node(settings, prompt, node_id, results):
    """Checks one node and, through its links, the nodes it depends on. Fills results[id] = errors."""
    if node_id in results:
        return not results[node_id]
    results[node_id] = []
    node = prompt[node_id]
    definition = NODES[node["class_type"]]
    inputs = node.get("inputs", {})
    errors = []
    valid = True
    for name, spec in definition["input"]["required"].items():
        if name not in inputs:
            errors.append(input_error("required_input_missing", "Required input is missing", name, name))
            continue
        value = inputs[name]
        kind = spec[0]
        if isinstance(value, list):
            if len(value) != 2:
                errors.append(input_error("bad_linked_input",
                                          "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                          name, name))
                continue
            source_id, slot = str(value[0]), value[1]
            if source_id not in prompt:
                errors.append(input_error("bad_linked_input", "Linked node does not exist", f"{name}: {source_id}", name))
                continue
            outputs = NODES[prompt[source_id]["class_type"]]["output"]
            received = outputs[slot] if isinstance(slot, int) and 0 <= slot < len(outputs) else None
            if received != kind:
                errors.append(input_error("return_type_mismatch", "Return type mismatch between linked nodes",
                                          f"{name}, received_type({received}) mismatch input_type({kind})", name))
                continue
            if not validate_node(settings, prompt, source_id, results):
                valid = False
            continue
        if kind == "INT":
            try:
                number = int(value)
            except (TypeError, ValueError):
                errors.append(input_error("invalid_input_type", "Failed to convert an input value to a INT value",
                                          f"{name}, {value}", name))
                continue
            if number < spec[1]["min"]:
                errors.append(input_error("value_smaller_than_min", f"Value {number} smaller than min of {spec[1]['min']}",
                                          f"{name}", name))
            elif number > spec[1]["max"]:
                errors.append(input_error("value_bigger_than_max", f"Value {number} bigger than max of {spec[1]['max']}",
                                          f"{name}", name))
        elif kind == "FILES" and not os.path.isfile(os.path.join(settings.input_dir, str(value))):
            errors.append(input_error("custom_validation_failed", "Custom validation failed for node",
                                      f"{name} - Invalid image file: {value}", name))
    results[node_id] = errors
    return valid and not errors


def validate_prompt(settings, prompt):
    """Returns (ok, error, outputs, node_errors) like ComfyUI's execution.validate_prompt."""
    if not isinstance(prompt, dict):
        return False, prompt_error("invalid_prompt", "Invalid prompt"), [], {}
    outputs = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return False, prompt_error("invalid_prompt",
                                       "Cannot execute because a node is missing the class_type property.",
                                       f"Node ID '#{node_id}'"), [], {}
        if node["class_type"] not in NODES:
            return False, prompt_error("invalid_prompt",
                                       f"Cannot execute because node {node['class_type']} does not exist.",
                                       f"Node ID '#{node_id}'"), [], {}
        if NODES[node["class_type"]]["output_node"]:
            outputs.append(node_id)
    if not outputs:
        return False, prompt_error("prompt_no_outputs", "Prompt has no outputs"), [], {}
    good, node_errors, details = [], {}, []
    for output in outputs:
        results = {}
        if validate_node(settings, prompt, output, results):
            good.append(output)
            continue
        for node_id, errors in results.items():
            if not errors:
                continue
            entry = node_errors.setdefault(node_id, {"errors": errors, "dependent_outputs": [],
                                                     "class_type": prompt[node_id]["class_type"]})
            entry["dependent_outputs"].append(output)
            details.extend(f"{e['message']}: {e['details']}" for e in errors)
    if not good:
        return False, prompt_error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                                   "\n".join(details)), [], node_errors
    return True, None, good, node_errors


def signature(prompt, node_id):
    """A node's class and inputs, with each linked input replaced by its node's signature: equal when a rerun would give the same."""
    node = prompt[node_id]
    inputs = {name: [signature(prompt, str(value[0])), value[1]] if isinstance(value, list) and len(value) == 2 else value
              for name, value in node.get("inputs", {}).items()}
    return json.dumps([node["class_type"], inputs], sort_keys=True)


def execution_order(prompt, outputs):
    """Dependencies first, each node once, only nodes the outputs need."""
    order = []

    def visit(node_id):
        if node_id in order:
            return
        for value in prompt[node_id].get("inputs", {}).values():
            if isinstance(value, list) and len(value) == 2:
                visit(str(value[0]))
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order


# ---------------------------------------------------------------- WebSocket (RFC 6455, server side)

class WebSocket:
    """One accepted WebSocket; sends are thread-safe, reads happen on the handler's thread."""

    def __init__(self, rfile, wfile):
        self.rfile = rfile
        self.wfile = wfile
        self.lock = threading.Lock()
        self.closed = False

    def send_frame(self, opcode, payload):
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self.lock:
            if self.closed:
                return False
            try:
                self.wfile.write(header + payload)
                return True
            except OSError:
                self.closed = True
                return False

    def send_json(self, message):
        return self.send_frame(0x1, json.dumps(message).encode("utf-8"))

    def close(self, code=1000):
        self.send_frame(0x8, struct.pack("!H", code))
        with self.lock:
            self.closed = True

    def _read(self, count):
        data = self.rfile.read(count) if count else b""
        if len(data) < count:
            raise ConnectionError("WebSocket peer went away")
        return data

    def read_message(self):
        """The next data message as (opcode, payload), answering pings and closes on the way; None at the end."""
        parts, first_opcode = [], None
        while True:
            head = self._read(2)
            fin, opcode = head[0] & 0x80, head[0] & 0x0F
            masked, length = head[1] & 0x80, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            if not masked:
                self.close(1002)
                return None
            key = self._read(4)
            payload = unmask(self._read(length), key)
            if opcode == 0x8:
                code = payload[:2] if len(payload) >= 2 else struct.pack("!H", 1000)
                self.send_frame(0x8, code)
                with self.lock:
                    self.closed = True
                return None
            if opcode == 0x9:
                self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if first_opcode is None:
                first_opcode = opcode
            parts.append(payload)
            if fin:
                return first_opcode, b"".join(parts)


def unmask(data, key):
    if not data:
        return data
    repeated = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


class Sockets:
    """Connected WebSockets by client id, like PromptServer.sockets."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_id = {}

    def add(self, sid, ws):
        with self.lock:
            self.by_id[sid] = ws

    def remove(self, sid, ws):
        with self.lock:
            # A reconnect with the same id has already replaced this socket: keep the new one.
            if self.by_id.get(sid) is ws:
                del self.by_id[sid]

    def _targets(self, sid):
        """One client when sid is given (nobody if it is not connected), else all."""
        with self.lock:
            if sid is None:
                return list(self.by_id.values())
            return [self.by_id[sid]] if sid in self.by_id else []

    def send(self, kind, data, sid=None):
        for ws in self._targets(sid):
            ws.send_json({"type": kind, "data": data})

    def send_binary(self, payload, sid=None):
        for ws in self._targets(sid):
            ws.send_frame(0x2, payload)


# ---------------------------------------------------------------- queue and executor

def now_ms():
    return int(time.time() * 1000)


class PromptQueue:
    """Pending and running prompts plus history; one executor thread takes prompts in number order."""

    def __init__(self, sockets):
        self.sockets = sockets
        self.cond = threading.Condition()
        self.pending = []
        self.running = None
        self.running_node = None
        self.history = {}
        self.interrupt_requested = False
        self.next_number = 0

    def number_for(self, front):
        with self.cond:
            number = -self.next_number if front else self.next_number
            self.next_number += 1
            return number

    def remaining(self):
        with self.cond:
            return len(self.pending) + (1 if self.running else 0)

    def status(self):
        return {"exec_info": {"queue_remaining": self.remaining()}}

    def queue_changed(self):
        self.sockets.send("status", {"status": self.status()})

    def put(self, item):
        with self.cond:
            self.pending.append(item)
            self.pending.sort(key=lambda entry: entry[0])
            self.cond.notify_all()
        self.queue_changed()

    def take(self):
        with self.cond:
            while not self.pending:
                self.cond.wait()
            self.running = self.pending.pop(0)
            self.interrupt_requested = False
            return self.running

    def finish(self, prompt_id, entry):
        with self.cond:
            self.history[prompt_id] = entry
            self.running = None
            self.running_node = None
        self.queue_changed()

    def snapshot(self):
        with self.cond:
            return {"queue_running": [list(self.running)] if self.running else [],
                    "queue_pending": [list(item) for item in self.pending]}

    def delete_pending(self, prompt_ids):
        with self.cond:
            self.pending = [item for item in self.pending if item[1] not in prompt_ids]
        self.queue_changed()

    def clear_pending(self):
        with self.cond:
            self.pending = []
        self.queue_changed()

    def interrupt(self, prompt_id=None):
        with self.cond:
            if self.running and (prompt_id is None or self.running[1] == prompt_id):
                self.interrupt_requested = True
                self.cond.notify_all()

    def sleep_unless_interrupted(self, seconds):
        """Sleeps like a sampler step; raises Interrupted as soon as /interrupt asks, not at the step's end."""
        with self.cond:
            self.cond.wait_for(lambda: self.interrupt_requested, timeout=seconds)
            if self.interrupt_requested:
                raise Interrupted()

    def set_running_node(self, node_id):
        with self.cond:
            self.running_node = node_id

    def running_node_for(self, client_id):
        with self.cond:
            if self.running and self.running[3].get("client_id") == client_id:
                return self.running_node
            return None

    def history_items(self, max_items=None):
        with self.cond:
            items = list(self.history.items())
        if max_items is not None:
            items = items[-max_items:] if max_items > 0 else []
        return dict(items)

    def history_of(self, prompt_id):
        with self.cond:
            return {prompt_id: self.history[prompt_id]} if prompt_id in self.history else {}

    def clear_history(self):
        with self.cond:
            self.history = {}

    def delete_history(self, prompt_ids):
        with self.cond:
            for prompt_id in prompt_ids:
                self.history.pop(prompt_id, None)


class Executor(threading.Thread):
    """Runs prompts one at a time and reports to the submitting client like ComfyUI's prompt_worker."""

    STEPS = 4

    def __init__(self, settings, queue, sockets):
        super().__init__(name="prompt_worker", daemon=True)
        self.settings = settings
        self.queue = queue
        self.sockets = sockets
        # node id -> (signature, result, ui) of the last run, for cache_nodes
        self.cache = {}

    def run(self):
        while True:
            item = self.queue.take()
            started = time.perf_counter()
            self.execute(item)
            log(f"Prompt executed in {time.perf_counter() - started:.2f} seconds")

    def execute(self, item):
        number, prompt_id, prompt, extra_data, outputs = item
        client_id = extra_data.get("client_id")

        def send(kind, data):
            self.sockets.send(kind, data, client_id)

        messages = []

        def add_message(kind, data):
            messages.append([kind, data])
            send(kind, data)

        add_message("execution_start", {"prompt_id": prompt_id, "timestamp": now_ms()})
        order = execution_order(prompt, outputs)
        signatures = {node_id: signature(prompt, node_id) for node_id in order}
        cached = [node_id for node_id in order if self.settings.behaviour.get("cache_nodes")
                  and self.cache.get(node_id, (None,))[0] == signatures[node_id]]
        add_message("execution_cached", {"nodes": cached, "prompt_id": prompt_id, "timestamp": now_ms()})
        step_seconds = float(self.settings.behaviour["prompt_seconds"]) / (len(order) * self.STEPS)
        values, ui_outputs, executed = {}, {}, []
        for node_id in cached:
            _, values[node_id], ui = self.cache[node_id]
            if ui is not None:
                ui_outputs[node_id] = ui
        status_str = "success"
        current = None
        try:
            for node_id in (n for n in order if n not in cached):
                current = node_id
                self.queue.set_running_node(node_id)
                send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
                for step in range(1, self.STEPS + 1):
                    self.queue.sleep_unless_interrupted(step_seconds)
                    send("progress", {"value": step, "max": self.STEPS, "prompt_id": prompt_id, "node": node_id})
                    if self.settings.args.preview_method != "none":
                        # Event 1 = preview image, format 2 = PNG, as in ComfyUI's binary preview frames.
                        self.sockets.send_binary(struct.pack(">II", 1, 2) + png_bytes(8, 8, 0x336699), client_id)
                node = prompt[node_id]
                kwargs = {}
                for name, value in node.get("inputs", {}).items():
                    if name not in NODES[node["class_type"]]["input"]["required"]:
                        continue
                    kwargs[name] = values[str(value[0])][value[1]] if isinstance(value, list) else value
                    if NODES[node["class_type"]]["input"]["required"][name][0] == "INT":
                        kwargs[name] = int(kwargs[name])
                result, ui = NODES[node["class_type"]]["run"](self.settings, **kwargs)
                values[node_id] = result
                self.cache[node_id] = (signatures[node_id], result, ui)
                executed.append(node_id)
                if ui is not None:
                    ui_outputs[node_id] = ui
                    send("executed", {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": prompt_id})
            add_message("execution_success", {"prompt_id": prompt_id, "timestamp": now_ms()})
        except Interrupted:
            status_str = "error"
            log("Processing interrupted")
            add_message("execution_interrupted", {"prompt_id": prompt_id, "node_id": current,
                                                  "node_type": prompt[current]["class_type"], "executed": executed,
                                                  "timestamp": now_ms()})
        except Exception as e:
            status_str = "error"
            log(f"!!! Exception during processing !!! {e}")
            add_message("execution_error", {"prompt_id": prompt_id, "node_id": current,
                                            "node_type": prompt[current]["class_type"], "executed": executed,
                                            "exception_message": str(e), "exception_type": type(e).__name__,
                                            "traceback": traceback.format_exception(e), "current_inputs": {},
                                            "current_outputs": {}, "timestamp": now_ms()})
        entry = {
            "prompt": [number, prompt_id, prompt, extra_data, outputs],
            "outputs": ui_outputs,
            "status": {"status_str": status_str, "completed": status_str == "success", "messages": messages},
            "meta": {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in ui_outputs},
        }
        self.queue.finish(prompt_id, entry)
        if client_id is not None:
            send("executing", {"node": None, "prompt_id": prompt_id})


# ---------------------------------------------------------------- HTTP

def is_loopback(host):
    """Like ComfyUI's is_loopback, without DNS: literal addresses and localhost names only."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def model_files(settings, folder):
    files = set()
    for sub in MODEL_FOLDERS[folder]:
        base = os.path.join(settings.models_dir, sub)
        for root, _, names in os.walk(base, followlinks=True):
            for name in names:
                if os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS:
                    files.add(os.path.relpath(os.path.join(root, name), base).replace(os.sep, "/"))
    return sorted(files)


INDEX_HTML = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>ComfyUI</title></head>
<body>
<h1>ComfyUI (fake)</h1>
<p>WebSocket: <span id="ws-state">connecting</span></p>
<p>Last message: <span id="ws-last"></span></p>
<script>
const clientId = Math.random().toString(16).slice(2) + Date.now().toString(16);
function connect() {
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("clientId", clientId);
  const socket = new WebSocket(url);
  const state = document.getElementById("ws-state");
  socket.onopen = () => { state.textContent = "connected"; };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") {
      document.getElementById("ws-last").textContent = JSON.parse(event.data).type;
    }
  };
  // Like the real UI: reconnect forever when the socket drops.
  socket.onclose = () => { state.textContent = "closed"; setTimeout(connect, 1000); };
}
connect();
</script>
</body>
</html>
"""


class Route:
    def __init__(self, methods, pattern, handler, api_copy=True):
        self.methods = methods
        self.parts = pattern.strip("/").split("/") if pattern != "/" else []
        self.handler = handler
        self.api_copy = api_copy

    def match(self, path):
        """Parameters for {} parts when path matches; a trailing ** matches any rest (or none)."""
        parts = path.strip("/").split("/") if path != "/" else []
        if self.parts and self.parts[-1] == "**":
            if len(parts) < len(self.parts) - 1:
                return None
            parts = parts[:len(self.parts) - 1]
            return self._match_parts(parts, self.parts[:-1])
        return self._match_parts(parts, self.parts)

    @staticmethod
    def _match_parts(parts, wanted):
        if len(parts) != len(wanted):
            return None
        params = []
        for want, got in zip(wanted, parts):
            if want == "{}":
                params.append(urllib.parse.unquote(got))
            elif want != got:
                return None
        return params


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # aiohttp sets TCP_NODELAY; without it headers and body go out as two segments and a keep-alive
    # client waits for the delayed ACK (40 ms) on every request.
    disable_nagle_algorithm = True
    server_version = "Python/3.11 aiohttp/3.11.18"
    # Set by main(): shared state of this process.
    app = None

    def log_message(self, fmt, *args):
        if self.app.settings.args.verbose == "DEBUG":
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    # ------------------------------------------------ plumbing

    def dispatch(self):
        self.body_consumed = False
        self.headers_sent = False
        url = urllib.parse.urlsplit(self.path)
        self.query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        try:
            if self.app.hung.is_set():
                threading.Event().wait()
            cors = self.app.settings.args.enable_cors_header
            if cors is None and not self.origin_allowed():
                self.send_bytes(403, b"", "text/plain")
            elif cors is not None and self.command == "OPTIONS":
                self.send_bytes(200, b"", "text/plain")
            else:
                self.route(url.path)
            if not self.body_consumed:
                for _ in self.body_chunks():
                    pass
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            if not self.headers_sent:
                self.send_bytes(500, b"500 Internal Server Error\n\nServer got itself in trouble", "text/plain")

    def route(self, path):
        candidates = [(path, False)]
        if path.startswith("/api/"):
            candidates.append((path[4:], True))
        wrong_method = False
        for candidate, via_api in candidates:
            for route in self.app.routes:
                if via_api and not route.api_copy:
                    continue
                params = route.match(candidate)
                if params is None:
                    continue
                method = "GET" if self.command == "HEAD" else self.command
                if "*" not in route.methods and method not in route.methods:
                    wrong_method = True
                    continue
                route.handler(self, *params)
                return
        if wrong_method:
            self.send_bytes(405, b"405: Method Not Allowed", "text/plain")
        else:
            self.send_bytes(404, b"404: Not Found", "text/plain")

    def origin_allowed(self):
        """ComfyUI's origin_only_middleware: a loopback Host with a different Origin is refused."""
        if self.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return False
        host_header, origin_header = self.headers.get("Host"), self.headers.get("Origin")
        if not host_header or not origin_header:
            return True
        host_domain = host_header.lower()
        origin = urllib.parse.urlparse(origin_header)
        origin_domain = origin.netloc.lower()
        host = urllib.parse.urlsplit("//" + host_domain)
        if origin.port is None:
            host_domain = host.hostname
        if host.port is None:
            origin_domain = origin.hostname
        if is_loopback(host.hostname) and host_domain and origin_domain and host_domain != origin_domain:
            log(f"WARNING: request with non matching host and origin {host_domain} != {origin_domain}, returning 403")
            return False
        return True

    def body_chunks(self, limit=None):
        """The request body in pieces, Content-Length or chunked; raises Payload413 over the limit."""
        self.body_consumed = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            total = 0
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                total += size
                if limit is not None and total > limit:
                    raise Payload413()
                yield from self.read_exactly(size)
                self.rfile.readline(65537)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if limit is not None and length > limit:
                raise Payload413()
            yield from self.read_exactly(length)

    def read_exactly(self, count):
        while count > 0:
            chunk = self.rfile.read(min(count, 65536))
            if not chunk:
                raise ConnectionError("client went away mid-body")
            count -= len(chunk)
            yield chunk

    def body(self):
        return b"".join(self.body_chunks(self.app.settings.max_upload_bytes))

    def json_body(self):
        data = self.body()
        return json.loads(data) if data.strip() else {}

    def cors_headers(self):
        origin = self.app.settings.args.enable_cors_header
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "POST, GET, DELETE, PUT, OPTIONS, PATCH")
            self.send_header("Access-Control-Allow-Headers", "Content-Type, Authorization")
            self.send_header("Access-Control-Allow-Credentials", "true")

    def start_response(self, status, content_type, length=None, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.cors_headers()
        self.end_headers()
        self.headers_sent = True

    def send_bytes(self, status, data, content_type, extra=None):
        self.start_response(status, content_type, len(data), extra)
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, data, status=200):
        self.send_bytes(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8")

    def param(self, name, default=None):
        return self.query.get(name, [default])[0]

    # ------------------------------------------------ ComfyUI routes

    def index(self):
        self.send_bytes(200, INDEX_HTML.encode("utf-8"), "text/html; charset=utf-8")

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self.send_bytes(400, b"No WebSocket UPGRADE hdr: None\n Can \"Upgrade\" only to \"WebSocket\".", "text/plain")
            return
        self.body_consumed = True
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.headers_sent = True
        self.close_connection = True
        sid = self.param("clientId") or uuid.uuid4().hex
        ws = WebSocket(self.rfile, self.wfile)
        sockets, queue = self.app.sockets, self.app.queue
        sockets.add(sid, ws)
        try:
            ws.send_json({"type": "status", "data": {"status": queue.status(), "sid": sid}})
            running_node = queue.running_node_for(sid)
            if running_node is not None:
                ws.send_json({"type": "executing", "data": {"node": running_node}})
            echo = self.app.settings.behaviour.get("ws_echo")
            while (message := ws.read_message()) is not None:
                if echo:
                    ws.send_frame(*message)
        finally:
            sockets.remove(sid, ws)

    def post_prompt(self):
        log("got prompt")
        try:
            data = self.json_body()
        except ValueError:
            self.send_bytes(500, b"500 Internal Server Error\n\nServer got itself in trouble", "text/plain")
            return
        queue = self.app.queue
        number = data["number"] if "number" in data else queue.number_for(bool(data.get("front")))
        if "prompt" not in data:
            error = prompt_error("no_prompt", "No prompt provided", "No prompt provided")
            self.send_json({"error": error, "node_errors": {}}, 400)
            return
        prompt = data["prompt"]
        prompt_id = str(data.get("prompt_id") or uuid.uuid4())
        ok, error, outputs, node_errors = validate_prompt(self.app.settings, prompt)
        extra_data = dict(data.get("extra_data") or {})
        if "client_id" in data:
            extra_data["client_id"] = data["client_id"]
        if not ok:
            log(f"invalid prompt: {error}")
            self.send_json({"error": error, "node_errors": node_errors}, 400)
            return
        queue.put((number, prompt_id, prompt, extra_data, outputs))
        self.send_json({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    def get_prompt(self):
        self.send_json(self.app.queue.status())

    def get_queue(self):
        self.send_json(self.app.queue.snapshot())

    def post_queue(self):
        data = self.json_body()
        if data.get("clear"):
            self.app.queue.clear_pending()
        if "delete" in data:
            self.app.queue.delete_pending(set(data["delete"]))
        self.send_bytes(200, b"", "text/plain")

    def get_history(self):
        max_items = self.param("max_items")
        self.send_json(self.app.queue.history_items(int(max_items) if max_items else None))

    def get_history_of(self, prompt_id):
        self.send_json(self.app.queue.history_of(prompt_id))

    def post_history(self):
        data = self.json_body()
        if data.get("clear"):
            self.app.queue.clear_history()
        if "delete" in data:
            self.app.queue.delete_history(data["delete"])
        self.send_bytes(200, b"", "text/plain")

    def view(self):
        filename = self.param("filename")
        if not filename:
            self.send_bytes(404, b"404: Not Found", "text/plain")
            return
        if filename[0] == "/" or ".." in filename:
            self.send_bytes(400, b"", "text/plain")
            return
        root = self.app.settings.dir_for_type(self.param("type", "output"))
        if root is None:
            self.send_bytes(400, b"", "text/plain")
            return
        folder = os.path.abspath(os.path.join(root, self.param("subfolder", "")))
        if os.path.commonpath((folder, root)) != root:
            self.send_bytes(403, b"", "text/plain")
            return
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            self.send_bytes(404, b"404: Not Found", "text/plain")
            return
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        size = os.path.getsize(path)
        self.start_response(200, content_type, size, {"Content-Disposition": f'filename="{filename}"'})
        if self.command == "HEAD":
            return
        with open(path, "rb") as f:
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)

    def upload(self):
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            self.send_bytes(400, b"", "text/plain")
            return
        fields = parse_multipart(content_type, self.body())
        if "image" not in fields or not fields["image"][0]:
            self.send_bytes(400, b"", "text/plain")
            return
        filename, data = fields["image"]
        kind = (fields.get("type", (None, b"input"))[1].decode() or "input")
        root = self.app.settings.dir_for_type(kind)
        if root is None:
            root, kind = self.app.settings.input_dir, "input"
        subfolder = fields.get("subfolder", (None, b""))[1].decode()
        folder = os.path.join(root, os.path.normpath(subfolder)) if subfolder else root
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((root, path)) != root:
            self.send_bytes(400, b"", "text/plain")
            return
        os.makedirs(folder, exist_ok=True)
        overwrite = fields.get("overwrite", (None, b""))[1].decode().lower() in ("true", "1")
        stem, ext = os.path.splitext(filename)
        attempt = 1
        while not overwrite and os.path.exists(path):
            filename = f"{stem} ({attempt}){ext}"
            path = os.path.join(folder, filename)
            attempt += 1
        with open(path, "wb") as f:
            f.write(data)
        self.send_json({"name": filename, "subfolder": subfolder, "type": kind})

    def interrupt(self):
        data = self.json_body()
        self.app.queue.interrupt(data.get("prompt_id") if isinstance(data, dict) else None)
        self.send_bytes(200, b"", "text/plain")

    def free(self):
        data = self.json_body()
        self.app.settings.free_requests.append(data)
        log(f"fake: POST /free {json.dumps(data)}")
        self.send_bytes(200, b"", "text/plain")

    def system_stats(self):
        self.send_json(self.app.settings.system_stats())

    def object_info_all(self):
        self.send_json({name: object_info(self.app.settings, name) for name in NODES})

    def object_info_one(self, class_type):
        self.send_json({class_type: object_info(self.app.settings, class_type)} if class_type in NODES else {})

    def embeddings(self):
        self.send_json([os.path.splitext(f)[0] for f in model_files(self.app.settings, "embeddings")])

    def extensions(self):
        found = []
        custom_nodes = os.path.join(INSTALL_DIR, "custom_nodes")
        if os.path.isdir(custom_nodes):
            for node in sorted(os.listdir(custom_nodes)):
                web = os.path.join(custom_nodes, node, "web")
                for root, _, names in os.walk(web):
                    for name in sorted(names):
                        if name.endswith(".js"):
                            relative = os.path.relpath(os.path.join(root, name), web).replace(os.sep, "/")
                            found.append(f"/extensions/{node}/{relative}")
        self.send_json(found)

    def models(self):
        self.send_json(list(MODEL_FOLDERS))

    def models_in(self, folder):
        folder = LEGACY_FOLDER_NAMES.get(folder, folder)
        if folder not in MODEL_FOLDERS:
            self.send_bytes(404, b"", "text/plain")
            return
        self.send_json(model_files(self.app.settings, folder))

    def logs_subscribe(self):
        self.json_body()
        self.send_bytes(200, b"", "text/plain")

    # ------------------------------------------------ ComfyUI-Manager routes

    def manager_version(self):
        self.send_bytes(200, b"V3.33", "text/plain")

    def manager_queue_status(self):
        self.send_json({"total_count": 0, "done_count": 0, "in_progress_count": 0, "is_processing": False})

    def manager_reboot(self):
        """Exits inside the handler without answering, as ComfyUI-Manager does."""
        session = os.environ.get("__COMFY_CLI_SESSION__")
        if session is not None:
            with open(session + ".reboot", "w", encoding="utf-8"):
                pass
            log("\nRestarting...\n\n")
            os._exit(0)
        log("\nRestarting... [Legacy Mode]\n\n")
        command = [sys.executable] + sys.argv
        log(f"Command: {command}")
        os.execv(sys.executable, command)

    # ------------------------------------------------ fake-only control routes

    def fake_hang(self):
        # Hung before the answer leaves, so no request that follows it can slip through.
        self.app.hung.set()
        self.send_json({"hung": True})

    def fake_crash(self):
        code = int(self.param("code", "1"))
        self.send_json({"exit_code": code})
        log(f"fake crash: exiting with code {code}")
        os._exit(code)

    def fake_env(self):
        names = ("CUDA_VISIBLE_DEVICES", "PYTHONUNBUFFERED", "__COMFY_CLI_SESSION__", "TQDM_DISABLE", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k in names or k.startswith("COMFY") or k.startswith("FAKE_")}
        self.send_json({"argv": sys.argv, "pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(),
                        "executable": sys.executable, "env": env,
                        "free_calls": len(self.app.settings.free_requests),
                        "free_requests": self.app.settings.free_requests})

    def fake_bytes(self):
        """Streams n bytes where byte i is i % 256; chunked=1 for chunked encoding."""
        count = int(self.param("n", "0"))
        chunked = self.param("chunked") in ("1", "true")
        self.start_response(200, "application/octet-stream", None if chunked else count)
        if self.command == "HEAD":
            return
        block = bytes(range(256)) * 256
        while count > 0:
            piece = block[:min(count, len(block))]
            if chunked:
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                self.wfile.write(piece)
            count -= len(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def fake_sink(self):
        digest, total = hashlib.sha256(), 0
        for chunk in self.body_chunks():
            digest.update(chunk)
            total += len(chunk)
        self.send_json({"bytes": total, "sha256": digest.hexdigest()})

    def fake_echo(self):
        total = sum(len(chunk) for chunk in self.body_chunks())
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        url = urllib.parse.urlsplit(self.path)
        self.send_json({"method": self.command, "path": url.path, "query": url.query, "headers": headers,
                        "body_length": total, "client": self.client_address[0]})


class Payload413(Exception):
    pass


def parse_multipart(content_type, body):
    """Form fields as name -> (filename or None, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def build_routes():
    h = Handler
    routes = [
        Route({"GET"}, "/", h.index, api_copy=False),
        Route({"GET"}, "/ws", h.websocket),
        Route({"GET"}, "/prompt", h.get_prompt),
        Route({"POST"}, "/prompt", h.post_prompt),
        Route({"GET"}, "/queue", h.get_queue),
        Route({"POST"}, "/queue", h.post_queue),
        Route({"GET"}, "/history", h.get_history),
        Route({"POST"}, "/history", h.post_history),
        Route({"GET"}, "/history/{}", h.get_history_of),
        Route({"GET"}, "/view", h.view),
        Route({"POST"}, "/upload/image", h.upload),
        Route({"POST"}, "/upload/mask", h.upload),
        Route({"POST"}, "/interrupt", h.interrupt),
        Route({"POST"}, "/free", h.free),
        Route({"GET"}, "/system_stats", h.system_stats),
        Route({"GET"}, "/object_info", h.object_info_all),
        Route({"GET"}, "/object_info/{}", h.object_info_one),
        Route({"GET"}, "/embeddings", h.embeddings),
        Route({"GET"}, "/extensions", h.extensions),
        Route({"GET"}, "/models", h.models),
        Route({"GET"}, "/models/{}", h.models_in),
        Route({"PATCH"}, "/internal/logs/subscribe", h.logs_subscribe, api_copy=False),
        Route({"GET"}, "/manager/version", h.manager_version),
        Route({"GET"}, "/manager/queue/status", h.manager_queue_status),
        Route({"GET"}, "/manager/reboot", h.manager_reboot),
        Route({"POST"}, "/v2/manager/reboot", h.manager_reboot),
        Route({"POST"}, "/fake/hang", h.fake_hang, api_copy=False),
        Route({"POST"}, "/fake/crash", h.fake_crash, api_copy=False),
        Route({"GET"}, "/fake/env", h.fake_env, api_copy=False),
        Route({"GET"}, "/fake/bytes", h.fake_bytes, api_copy=False),
        Route({"POST", "PUT"}, "/fake/sink", h.fake_sink, api_copy=False),
        Route({"*"}, "/fake/echo/**", h.fake_echo, api_copy=False),
    ]
    return routes


def guard_413(handler):
    """aiohttp answers 413 when a body passes client_max_size (--max-upload-size)."""
    def guarded(self, *params):
        try:
            handler(self, *params)
        except Payload413:
            self.close_connection = True
            self.send_bytes(413, b"Request Entity Too Large", "text/plain")
    return guarded


class App:
    def __init__(self, settings):
        self.settings = settings
        self.sockets = Sockets()
        self.queue = PromptQueue(self.sockets)
        self.hung = threading.Event()
        self.routes = build_routes()
        for route in self.routes:
            route.handler = guard_413(route.handler)


class Server(ThreadingHTTPServer):
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Server6(Server):
    address_family = socket.AF_INET6


# ---------------------------------------------------------------- start-up

def spawn_child():
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True:\n    time.sleep(1)\n",
                              "fake-comfyui-child"])
    with open(os.path.join(INSTALL_DIR, "fake-child.pid"), "w", encoding="ascii") as f:
        f.write(str(child.pid))


def print_imports(settings):
    args = settings.args
    log("Checkpoint files will always be loaded safely.")
    ram_total, _ = ram_figures()
    vram_total = sum(d.get("vram_total", 0) for d in settings.devices)
    log(f"Total VRAM {vram_total // MIB} MB, total RAM {ram_total // MIB} MB")
    log(f"pytorch version: {PYTORCH_VERSION}")
    state = ("DISABLED" if args.cpu else "LOW_VRAM" if args.lowvram else "NO_VRAM" if args.novram
             else "HIGH_VRAM" if args.highvram or args.gpu_only else "NORMAL_VRAM")
    log(f"Set vram state to: {state}")
    if args.cpu:
        log("Device: cpu")
    elif settings.devices:
        backend = "native" if args.disable_cuda_malloc else "cudaMallocAsync"
        log(f"Device: cuda:0 {settings.devices[0]['name']} : {backend}")
    log("Using pytorch attention")
    log(f"Python version: {sys.version}")
    log(f"ComfyUI version: {COMFYUI_VERSION}")


def print_custom_nodes():
    """A custom node folder holding a file named fake-import-fail reports IMPORT FAILED, like a broken node."""
    custom_nodes = os.path.join(INSTALL_DIR, "custom_nodes")
    names = sorted(os.listdir(custom_nodes)) if os.path.isdir(custom_nodes) else []
    log("\nImport times for custom nodes:")
    for name in names:
        path = os.path.join(custom_nodes, name)
        if not os.path.isdir(path) or name == "__pycache__":
            continue
        failed = os.path.exists(os.path.join(path, "fake-import-fail"))
        if failed:
            sys.stderr.write(f"Cannot import {path} module for custom nodes: simulated failure\n")
        log(f"   0.0 seconds{' (IMPORT FAILED)' if failed else ''}: {path}")
    log("")


def after(seconds, action):
    timer = threading.Timer(float(seconds), action)
    timer.daemon = True
    timer.start()


def crash(code):
    sys.stderr.write(f"fake crash after start: exiting with code {code}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)


def main():
    record_start()
    args = build_parser().parse_args()
    if args.cuda_device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.cuda_device)
        log(f"Set cuda device to: {args.cuda_device}")
    settings = Settings(args, load_behaviour())
    behaviour = settings.behaviour
    if behaviour.get("spawn_child"):
        spawn_child()
    if behaviour.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    log(f"[START] fake ComfyUI {COMFYUI_VERSION} in {INSTALL_DIR}")
    if not args.cpu and not settings.devices:
        sys.stderr.write("Traceback (most recent call last):\n  File \"comfy/model_management.py\", line 1\n"
                         "RuntimeError: No CUDA GPUs are available\n")
        sys.exit(1)
    print_imports(settings)
    # The delay stands for importing nodes and custom nodes: the port stays closed meanwhile.
    time.sleep(float(behaviour.get("startup_delay_seconds", 0)))
    if behaviour.get("exit_at_startup") is not None:
        sys.stderr.write("Traceback (most recent call last):\n  File \"main.py\", line 1, in <module>\n"
                         "RuntimeError: simulated start-up failure\n")
        sys.exit(int(behaviour["exit_at_startup"]))
    print_custom_nodes()
    for directory in (settings.output_dir, settings.input_dir, settings.temp_dir):
        os.makedirs(directory, exist_ok=True)

    app = App(settings)
    Handler.app = app
    address = args.listen.split(",")[0]
    server_class = Server6 if ":" in address else Server
    server = server_class((address, args.port), Handler)
    Executor(settings, app.queue, app.sockets).start()
    if behaviour.get("crash_after_seconds") is not None:
        after(behaviour["crash_after_seconds"], lambda: crash(int(behaviour["crash_exit_code"])))
    if behaviour.get("hang_after_seconds") is not None:
        after(behaviour["hang_after_seconds"], app.hung.set)
    if not args.dont_print_server:
        shown = "127.0.0.1" if address == "0.0.0.0" else f"[{address}]" if ":" in address else address
        log("Starting server\n")
        log(f"To see the GUI go to: http://{shown}:{args.port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("\nStopped server")
    server.server_close()


if __name__ == "__main__":
    main()
