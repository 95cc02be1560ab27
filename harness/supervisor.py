"""Child processes: started with a parent-death signal, watched, stopped by PID; and wait_for.

Every process runs in its own session (Ctrl-C in a terminal reaches only the entry point, which
then stops them in order) with PR_SET_PDEATHSIG (it dies with the entry point even if that is
killed outright), writes its output to WORK/NAME.log, and is listed in WORK/pids while it runs.
Processes are stopped by the PIDs remembered here, never by name.
"""
import ctypes
import shutil
import signal
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from harness import CheckFailed, HarnessError
from harness.net import http

PR_SET_PDEATHSIG = 1
POLL = 0.5


def die_with_parent():
    """preexec_fn: the kernel sends SIGTERM to the child when its parent dies, however it dies.
    prctl is variadic: the signal is passed as the unsigned long the kernel reads."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM),
                                               0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def alive(pid):
    """Whether `pid` runs; a zombie is dead for this purpose."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def cpu_ticks(pid):
    """User plus system CPU time of `pid` so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def memory(pid):
    """(VmRSS, VmHWM) in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def tail(path, lines=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for(what, check, timeout, poll=POLL):
    """Polls `check()` until it returns a true value; returns (value, seconds waited).

    Connection errors, API errors and missing keys count as "not yet"; CheckFailed from `check`
    stops at once. After `timeout` seconds, CheckFailed names `what` and the last error."""
    start = time.monotonic()
    last_error = None
    while time.monotonic() - start < timeout:
        try:
            value = check()
            if value:
                return value, time.monotonic() - start
        except CheckFailed:
            raise
        except (OSError, HarnessError, KeyError, ValueError) as error:
            last_error = error
        time.sleep(poll)
    raise CheckFailed(f"timed out after {timeout}s waiting for {what}"
                      + (f" (last error: {last_error})" if last_error else ""))


@dataclass
class Process:
    name: str
    argv: list
    popen: subprocess.Popen
    log: Path


class Supervisor:
    """The processes of one work directory, by name, in start order."""

    def __init__(self, work):
        self.work = Path(work)
        self.processes = {}

    def __iter__(self):
        return iter(self.processes.values())

    def __len__(self):
        return len(self.processes)

    def spawn(self, name, argv):
        log = self.work / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.work,
                                     start_new_session=True, preexec_fn=die_with_parent)
        self.processes[name] = Process(name, list(argv), popen, log)
        self.write_pids()
        return popen

    def write_pids(self):
        (self.work / "pids").write_text("".join(
            f"{p.popen.pid} {p.name}\n" for p in self if p.popen.poll() is None))

    def pid(self, name):
        return self.processes[name].popen.pid

    def log(self, name):
        return self.processes[name].log

    def wait_ready(self, name, url, timeout=60):
        """Until GET `url` answers 200; HarnessError with the log's tail if it exits first."""
        process = self.processes[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise HarnessError(f"{name} exited with status {process.popen.returncode}; "
                                   f"its log:\n{tail(process.log)}")
            try:
                if http("GET", url, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"{name} not ready at {url} after {timeout}s; "
                           f"its log:\n{tail(process.log)}")

    def kill(self, name, sig=signal.SIGKILL):
        """Stops one process the hard way (a crash), by its remembered PID."""
        process = self.processes[name]
        process.popen.send_signal(sig)
        process.popen.wait(30)
        self.write_pids()

    def stop(self, timeout=15):
        """SIGTERM to each process, newest first; SIGKILL after `timeout` seconds. Returns the
        names of those still alive after that (none, normally)."""
        for process in reversed(list(self)):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
                try:
                    process.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
        survivors = [p.name for p in self if alive(p.popen.pid)]
        self.processes.clear()
        if (self.work / "pids").exists():
            self.write_pids()
        return survivors

    def exited(self):
        """[(name, status)] of the processes that ended on their own."""
        return [(p.name, p.popen.returncode) for p in self if p.popen.poll() is not None]


def run_check(processes, work, body, keep=False, log=print):
    """Runs a check, body(), and returns its exit status (0 or 1), whatever happens: SIGTERM
    and SIGINT stop it as a failure, every process is stopped by PID on the way out, and the
    work directory is removed on success and kept (its path printed) on failure or `keep`."""
    def on_signal(signum, _frame):
        raise CheckFailed(f"interrupted by signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    status = 0
    try:
        body()
    except HarnessError as error:
        log(f"FAILED: {error}")
        status = 1
    except Exception:  # anything else: report, clean up, fail
        traceback.print_exc()
        status = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        survivors = processes.stop()
        if survivors:
            log(f"FAILED: still running after SIGKILL: {', '.join(survivors)}")
            status = 1
        if status or keep:
            log(f"work directory (configs, logs): {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status
