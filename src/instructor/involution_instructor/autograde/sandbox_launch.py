"""Starts one student kernel inside bubblewrap. Run as a script, standard library only:

    python -I -S sandbox_launch.py SETTINGS.json -- KERNEL ARGV ... -f CONNECTION_FILE
    python -I -S sandbox_launch.py SETTINGS.json --probe

Jupyter starts this in place of the kernel (the sandbox kernelspec's argv) and becomes ``bwrap``: so the kernel manager's process *is* the sandbox, and killing
it ends everything inside. Resource limits (and, under root, the switch to the
sandbox's own unprivileged uid) are set inside the sandbox, just before the kernel starts.
"""

import ctypes
import json
import os
import sys

CONNECTION = "/run/jupyter/kernel.json"
HOME = "/tmp/home"
WORKDIR = "/tmp/work"
SANDBOX_UID = 1000
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
    if os.geteuid() == 0 and settings.get("sockets"):
        os.chown(settings["sockets"], settings["uid"], settings["gid"])
    bwrap = settings["bwrap"]
    _die_with_parent()
    os.execv(bwrap, [bwrap, *args])


if __name__ == "__main__":
    main(sys.argv)
