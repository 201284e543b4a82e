"""Starts one student kernel inside bubblewrap. Run as a script, standard library only:

    python -I -S sandbox_launch.py SETTINGS.json -- KERNEL ARGV ... -f CONNECTION_FILE
    python -I -S sandbox_launch.py SETTINGS.json --probe

Jupyter starts this in place of the kernel (the sandbox kernelspec's argv) and becomes ``bwrap``: so the kernel manager's process *is* the sandbox, and killing
it ends everything inside. Resource limits (and, under root, the switch to the
sandbox's own unprivileged uid) are set inside the sandbox, just before the kernel starts.

Where the settings name a cgroup method, the sandbox first gets a cgroup of its own, which
caps the memory and the processes of everything in it together; a watcher outside it (a
detached process) ends the sandbox when its processes together pass the CPU time limit, and
removes the cgroup when the sandbox ends. Under root, the sockets' folder is a tmpfs of
:data:`SOCKETS_SIZE` bytes, so what the sandbox writes there is capped as a whole.
"""

import ctypes
import json
import os
import select
import signal
import sys
import time

CONNECTION = "/run/jupyter/kernel.json"
HOME = "/tmp/home"
WORKDIR = "/tmp/work"
SANDBOX_UID = 1000
SOCKETS_SIZE = 64 * 1024  # the sockets' tmpfs: sockets take no space, files written there do
CGROUP_PREFIX = "involution-grading-"
CPU_POLL = 0.2  # seconds between the watcher's readings of the sandbox's CPU time
# Sets the limits, and under root becomes the sandbox user, then the kernel.
# argv: MEMORY CPU PROCESSES FILESIZE UID GID -- KERNEL...  (UID -1: already unprivileged)
LIMITS = (
    "import os, resource, sys\n"
    "a = sys.argv[1:]; i = a.index('--')\n"
    "m, c, n, f, u, g = (int(x) for x in a[:i])\n"
    "for which, value, hard in ((resource.RLIMIT_AS, m, m), (resource.RLIMIT_CPU, c, c + 5),\n"
    "        (resource.RLIMIT_NPROC, n, n), (resource.RLIMIT_FSIZE, f, f), (resource.RLIMIT_CORE, 0, 0)):\n"
    "    resource.setrlimit(which, (value, hard))\n"
    "if u >= 0:\n"
    "    for folder in ('/tmp', '/tmp/home', '/tmp/work'):\n"
    "        os.chown(folder, u, g)\n"
    "    os.setgroups([]); os.setgid(g); os.setuid(u)\n"
    "os.execv(a[i + 1], a[i + 1:])\n"
)


def _data_fd(data):
    """A pipe holding ``data`` (small text), for ``--ro-bind-data``."""
    read, write = os.pipe()
    os.write(write, data.encode())
    os.close(write)
    os.set_inheritable(read, True)
    return str(read)


def _system_binds():
    args = []
    for name in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts"):
        if os.path.exists(name):
            args += ["--ro-bind", os.path.realpath(name), name]
    return args


def _parents(paths):
    """``--dir`` for every folder above ``paths``: bwrap would make them 0700 (root's only)."""
    args, made = [], set()
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/" + "/".join(parts[:depth])
            if folder not in made and folder not in ("/tmp", "/usr", "/proc", "/dev"):
                made.add(folder)
                args += ["--perms", "0755", "--dir", folder]
    return args


def bwrap_arguments(settings, inner, connection=None):
    """Root runs bwrap privileged, without a user namespace: the kernel then drops to a uid of
    its own (so the process limit counts this sandbox alone and root's exemption is gone).
    Anyone else gets a user namespace, in which the process limit counts this sandbox alone."""
    privileged = os.geteuid() == 0
    if privileged:
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN"]
        uid, gid = settings["uid"], settings["gid"]
    else:
        args = ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
        uid = gid = -1
    shown = SANDBOX_UID if uid < 0 else uid
    args += ["--die-with-parent", "--new-session", "--hostname", "grading", "--clearenv"]
    for name, value in sorted(settings["env"].items()):
        args += ["--setenv", name, value]
    args += _system_binds()
    for name, text in (("/etc/passwd", f"student:x:{shown}:{shown}:student:{HOME}:/bin/sh\n"),
                       ("/etc/group", f"student:x:{shown}:\n"),
                       ("/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n")):
        args += ["--perms", "0444", "--ro-bind-data", _data_fd(text), name]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if settings["supports_size"]:
        args += ["--size", str(settings["disk"])]
    args += ["--tmpfs", "/tmp", "--dir", HOME, "--dir", WORKDIR]
    binds = [inside for _, inside in settings["read_only"]] + ([settings["sockets"], CONNECTION] if connection else [])
    args += _parents(binds)
    for host, inside in settings["read_only"]:
        args += ["--ro-bind", host, inside]
    for inside in settings["hidden"]:
        args += ["--tmpfs", inside, "--remount-ro", inside]
    if connection is not None:
        args += ["--bind", settings["sockets"], settings["sockets"],
                 "--perms", "0444", "--ro-bind-data", _data_fd(open(connection).read()), CONNECTION]
    args += ["--remount-ro", "/", "--chdir", WORKDIR, "--"]
    limits = [str(settings[key]) for key in ("memory", "cpu_seconds", "processes", "disk")] + [str(uid), str(gid)]
    return args + [settings["python"], "-I", "-S", "-c", LIMITS, *limits, "--", *inner]


# ------------------------------------------------------------------ cgroups


def _write(folder, name, value):
    with open(os.path.join(folder, name), "w") as handle:
        handle.write(str(value))


def make_group(method, memory, processes):
    """This sandbox's cgroup, with its memory and process limits: a dict that :func:`join_group`,
    :func:`cpu_seconds`, :func:`kill_group` and :func:`remove_group` take. Raises OSError."""
    name = f"{CGROUP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    if method["kind"] == "v1":
        folders = {controller: os.path.join(parent, name) for controller, parent in method["parents"].items()}
        group = {"kind": "v1", "folders": [], "procs": os.path.join(folders["pids"], "cgroup.procs"),
                 "cpu": os.path.join(folders["cpuacct"], "cpuacct.usage")}
        try:
            for folder in folders.values():
                os.mkdir(folder)
                group["folders"].append(folder)
            _write(folders["memory"], "memory.limit_in_bytes", memory)
            try:
                _write(folders["memory"], "memory.memsw.limit_in_bytes", memory)  # no swapping past it
            except OSError:
                pass  # no swap accounting in this kernel
            _write(folders["pids"], "pids.max", processes)
        except OSError:
            remove_group(group)
            raise
        return group
    folder = os.path.join(method["parent"], name)
    group = v2_group(folder)
    os.mkdir(folder)
    try:
        _write(folder, "memory.max", memory)
        try:
            _write(folder, "memory.swap.max", 0)
        except OSError:
            pass
        _write(folder, "pids.max", processes)
    except OSError:
        remove_group(group)
        raise
    return group


def v2_group(folder):
    return {"kind": "v2", "folders": [folder], "procs": os.path.join(folder, "cgroup.procs"),
            "cpu": os.path.join(folder, "cpu.stat")}


def join_group(group, pid):
    for folder in group["folders"]:
        _write(folder, "cgroup.procs", pid)


def cpu_seconds(group):
    with open(group["cpu"]) as handle:
        text = handle.read()
    if group["kind"] == "v1":
        return int(text) / 1e9
    for line in text.splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    return 0.0


def members(group):
    try:
        with open(group["procs"]) as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        return []


def kill_group(group):
    """SIGKILL every process in the group (cgroup.kill where the kernel has it)."""
    try:
        if group["kind"] == "v2" and os.path.exists(os.path.join(group["folders"][0], "cgroup.kill")):
            _write(group["folders"][0], "cgroup.kill", 1)
            return
    except OSError:
        pass
    for pid in members(group):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def remove_group(group, wait=5.0):
    """Kill what is left in the group, then remove its folders."""
    deadline = time.monotonic() + wait
    while members(group) and time.monotonic() < deadline:
        kill_group(group)
        time.sleep(0.05)
    for folder in reversed(group["folders"]):
        for _ in range(50):
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:  # busy a moment after its last process died
                time.sleep(0.05)


def _scope_group(pid, mount):
    """The cgroup v2 scope that systemd-run made for ``pid``, once it has moved there."""
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/cgroup") as handle:
                for line in handle:
                    if line.startswith("0::") and line.strip().endswith(".scope"):
                        return v2_group(mount + line.strip()[3:])
        except OSError:
            return None
        time.sleep(0.05)
    return None


def _watch(target, group, cpu_limit, method, sockets):
    """Outside the sandbox, detached: ends the sandbox when its processes together pass
    ``cpu_limit`` CPU seconds; once it has ended, removes its cgroup and the sockets' tmpfs."""
    try:
        pidfd = os.pidfd_open(target)
    except (AttributeError, OSError):
        pidfd = None
    if group is None and method and method["kind"] == "systemd":
        group = _scope_group(target, method["mount"])
    while True:
        if pidfd is not None:
            if select.select([pidfd], [], [], CPU_POLL)[0]:
                break
        else:
            time.sleep(CPU_POLL)
            if not os.path.exists(f"/proc/{target}") or _zombie(target):
                break
        try:
            if group is not None and cpu_seconds(group) > cpu_limit:
                kill_group(group)
        except (OSError, ValueError):
            pass
    if group is not None and method["kind"] != "systemd":  # systemd removes its own scope
        remove_group(group)
    if sockets:
        _unmount(sockets)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _start_watcher(*args):
    """Fork the watcher twice (no child of bwrap, no terminal, no inherited pipes)."""
    target = os.getpid()
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    try:
        if os.fork() == 0:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, 65536)
            try:
                _watch(target, *args)
            finally:
                os._exit(0)
    finally:
        os._exit(0)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount_sockets(folder, uid, gid):
    """A tmpfs of SOCKETS_SIZE bytes on the sockets' folder (root only); False where it cannot."""
    options = f"size={SOCKETS_SIZE},nr_inodes=64,mode=0700,uid={uid},gid={gid}".encode()
    flags = 2 | 4 | 8  # MS_NOSUID | MS_NODEV | MS_NOEXEC
    try:
        return _libc().mount(b"tmpfs", folder.encode(), b"tmpfs", flags, options) == 0
    except (OSError, AttributeError):
        return False


def _unmount(folder):
    try:
        _libc().umount2(folder.encode(), 2)  # MNT_DETACH
    except (OSError, AttributeError):
        pass


def _die_with_parent():
    """The sandbox ends when its kernel manager does, even if that one is killed."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: sandbox_launch.py SETTINGS.json (--probe | -- KERNEL ARGV)")
    with open(argv[1]) as handle:
        settings = json.load(handle)
    if argv[2] == "--probe":
        inner = [settings["python"], "-I", "-S", "-c", "import os; print('sandboxed as', os.getuid())"]
        args = bwrap_arguments(settings, inner)
    else:
        kernel = list(argv[3:])
        index = kernel.index("-f") + 1
        connection = kernel[index]
        with open(connection) as handle:
            info = json.load(handle)
        if info.get("transport") != "ipc" or os.path.dirname(info.get("ip", "")) != settings["sockets"]:
            sys.exit("sandbox: the kernel's connection must use ipc sockets in "
                     f"{settings['sockets']}, not {info.get('transport')}://{info.get('ip')}")
        kernel[index] = CONNECTION
        args = bwrap_arguments(settings, kernel, connection)
    command = [settings["bwrap"], *args]
    method = settings.get("cgroup")
    sockets = None
    if os.geteuid() == 0 and settings.get("sockets"):
        if _mount_sockets(settings["sockets"], settings["uid"], settings["gid"]):
            sockets = settings["sockets"]
        else:
            os.chown(settings["sockets"], settings["uid"], settings["gid"])
    group = None
    if method and method["kind"] == "systemd":
        command = [*method["command"], "-p", f"MemoryMax={settings['memory']}", "-p", "MemorySwapMax=0",
                   "-p", f"TasksMax={settings['processes']}", "--", *command]
    elif method:
        try:
            group = make_group(method, settings["memory"], settings["processes"])
        except OSError as error:
            if sockets:
                _unmount(sockets)
            sys.exit(f"sandbox: could not make the sandbox's cgroup: {error}")
    if method or sockets:
        _start_watcher(group, settings["cpu_seconds"], method, sockets)
    if group is not None:
        join_group(group, os.getpid())
    _die_with_parent()
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
