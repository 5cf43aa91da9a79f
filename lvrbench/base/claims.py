"""Claims on a shared artifact cache: each missing artifact is built by exactly one worker.

Workers in several processes, or on several machines sharing a file system (NFS included), may need the same
uncached artifact at once. Each first takes a claim, `<artifact>.claim`: a file created with O_CREAT | O_EXCL
(atomic on local file systems and NFSv3+) that holds its owner (host, pid, time, a random token). The holder
renews the claim's lease by touching its mtime from a heartbeat thread while it builds; the others wait.

- A claim whose mtime is older than the lease is stale (its holder died or hangs without a heartbeat), and so is
  one whose holder is a dead process on this host; either may be taken over. "Now" is the file system's clock
  (the mtime of a file just created beside the claim), so machines with skewed clocks agree on staleness.
- A takeover rewrites the stale claim in place (new owner, fresh mtime) and a release removes a claim only if it
  still holds the releaser's token; both happen under a guard, `<artifact>.claim.lock` (O_EXCL, held for a few
  file operations, broken after GUARD_STALE seconds). The claim file is never renamed or removed by anyone but
  its holder, so no window opens in which a third worker could create a claim beside the taker's. (Renaming the
  stale file aside, checking it and linking back a live one moved by mistake let two of four processes racing on
  a stale claim both win in 4 of 100 trials here: the link-back comes after a third has created a claim.)
- Failure policy: a holder whose build raises records the error's last line in `<artifact>.failed` before it
  releases; waiters then fail with that error instead of building again (a deterministic failure would repeat
  in every job that needs the artifact). A failure belongs to the run that recorded it (`run`, e.g. the driver's
  run id): a later run ignores it and its builder removes it. A holder that dies records nothing: its claim goes
  stale and a waiter builds the artifact (a crash or a killed worker is retried; an exception is not).
  KeyboardInterrupt and SystemExit release the claim without recording a failure.

Stdlib only: nothing of lvrbench (it runs in workers of any executor).
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

#: How long a claim stays valid without a heartbeat (seconds); the heartbeat renews it every quarter of this.
LEASE = 60.0
#: How often a waiter looks again (seconds).
POLL = 1.0


class ArtifactFailed(RuntimeError):
    """The artifact's builder failed in this run; the message is its error line."""


def claim_path(path: Path) -> Path:
    """The claim file of the artifact at `path`."""
    return path.with_name(path.name + ".claim")


def failed_path(path: Path) -> Path:
    """Where a failed build of the artifact at `path` records its error."""
    return path.with_name(path.name + ".failed")


def fs_now(directory: Path) -> float:
    """The file system's current time: the mtime of a file created in `directory` (the server's clock on NFS)."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".clock.", suffix=".tmp")
    try:
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)
        os.unlink(name)


@dataclass(frozen=True)
class _Seen:
    """One claim file as read: its owner's record and the identity of the file (inode, mtime)."""

    owner: dict
    ino: int
    mtime_ns: int

    @property
    def token(self) -> str:
        return str(self.owner.get("token", ""))


def _read(path: Path) -> _Seen | None:
    """The claim file at `path`, or None when there is none. An empty or partly written one has an empty owner."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            raw = f.read(4096)
    except FileNotFoundError:
        return None
    try:
        owner = json.loads(raw)
        owner = owner if isinstance(owner, dict) else {}
    except ValueError:
        owner = {}
    return _Seen(owner, st.st_ino, st.st_mtime_ns)


def _pid_dead(owner: dict) -> bool:
    """Whether the owner is a process of this host that no longer exists (a reused pid reads as alive: safe)."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process
        return False
    return False


def _take_aside(path: Path, expected: Callable[[_Seen], bool]) -> bool:
    """Remove the file at `path` if `expected` accepts it; True when removed. Renames it to a unique name first (one
    renamer wins), checks what was moved, and links back a file that was not the expected one, unless another took its
    place meanwhile. Used only to break a stale guard (that window is the one race this module does not close)."""
    aside = path.with_name(f"{path.name}.{secrets.token_hex(8)}.aside")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    moved = _read(aside)
    if moved is not None and expected(moved):
        os.unlink(aside)
        return True
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    os.unlink(aside)
    return False


def _owner(token: str, run: str | None) -> bytes:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "token": token,
                       "run": run}).encode()


class _Guard:
    """`<artifact>.claim.lock`, held (O_EXCL) for the few file operations that change an existing claim: a takeover
    or a release. A guard older than GUARD_STALE (its holder died inside those operations) is broken."""

    def __init__(self, claim_file: Path):
        self.path = claim_file.with_name(claim_file.name + ".lock")
        self.token = secrets.token_hex(16)

    def acquire(self) -> bool:
        """Take the guard now; False when another holds it."""
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                seen = _read(self.path)
                if seen is None:
                    continue
                if fs_now(self.path.parent) - seen.mtime_ns / 1e9 <= GUARD_STALE and not _pid_dead(seen.owner):
                    return False
                _take_aside(self.path, lambda moved: (moved.ino, moved.mtime_ns, moved.token) ==
                            (seen.ino, seen.mtime_ns, seen.token))
                continue
            try:
                os.write(fd, _owner(self.token, None))
            finally:
                os.close(fd)
            return True
        return False

    def wait(self, limit: float) -> bool:
        """Take the guard, retrying for up to `limit` seconds."""
        deadline = time.monotonic() + limit
        while not self.acquire():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def release(self) -> None:
        seen = _read(self.path)
        if seen is not None and seen.token == self.token:
            os.unlink(self.path)


#: A guard held longer than this (seconds) is stale: its holder died inside a few file operations.
GUARD_STALE = 10.0


@dataclass
class Claim:
    """A claim this process holds on one artifact; `with claim:` renews it from a heartbeat thread, then releases it."""

    path: Path  # the claim file
    token: str
    lease: float
    _fd: int = field(repr=False)
    _ino: int = field(repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _beat: threading.Thread | None = field(default=None, repr=False)
    lost: bool = False  # set when a renewal finds the claim taken over

    def held(self) -> bool:
        """Whether the claim file at its path is still this claim."""
        seen = _read(self.path)
        return seen is not None and seen.ino == self._ino and seen.token == self.token

    def renew(self) -> bool:
        """Touch the claim's mtime; False (and `lost`) when it is no longer ours (taken over after going stale)."""
        if self._fd < 0 or self.lost:
            return False
        if not self.held():
            self.lost = True
            return False
        os.utime(self._fd)
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease / 4):
            try:
                if not self.renew():
                    return
            except OSError:  # a file system hiccup: try again at the next beat
                pass

    def __enter__(self) -> Claim:
        self._beat = threading.Thread(target=self._heartbeat, name=f"claim {self.path.name}", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Stop renewing and remove the claim file, only if it is still this claim (checked under the guard)."""
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join()
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        guard = _Guard(self.path)
        if not guard.wait(2 * GUARD_STALE):  # never: a guard is broken after GUARD_STALE; else the claim goes stale
            return
        try:
            if self.held():
                os.unlink(self.path)
        finally:
            guard.release()


def _create(path: Path, lease: float, run: str | None) -> Claim | None:
    """Create the claim file with O_EXCL; None when one exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    token = secrets.token_hex(16)
    try:
        os.write(fd, _owner(token, run))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return Claim(path, token, lease, fd, os.fstat(fd).st_ino)


def _take_over(path: Path, seen: _Seen, lease: float, run: str | None) -> Claim | None:
    """Make the stale claim `seen` ours by rewriting it in place under the guard; None when another was faster.

    The file is never removed, so no other process can create a claim beside ours; its former holder, if it still
    runs, finds another token in it on its next heartbeat and knows it lost the claim.
    """
    guard = _Guard(path)
    if not guard.acquire():
        return None
    try:
        now = _read(path)
        if now is None or (now.ino, now.mtime_ns, now.token) != (seen.ino, seen.mtime_ns, seen.token):
            return None  # released, or taken over by another since we looked
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        token = secrets.token_hex(16)
        try:
            os.write(fd, _owner(token, run))
            os.fsync(fd)
            os.utime(fd)
        except BaseException:
            os.close(fd)
            raise
        return Claim(path, token, lease, fd, os.fstat(fd).st_ino)
    finally:
        guard.release()


def claim(path: Path, lease: float = LEASE, run: str | None = None) -> Claim | None:
    """A claim on the artifact at `path` (its directory must exist), or None while another live claim holds it.

    A stale claim (mtime older than `lease` by the file system's clock, or held by a dead process of this host) is
    taken over. The claim is not renewed until it is entered (`with claim(...) as c:`).
    """
    target = claim_path(Path(path))
    for _ in range(3):  # a claim released between our looks: look again, a few times
        made = _create(target, lease, run)
        if made is not None:
            return made
        seen = _read(target)
        if seen is None:
            continue
        if fs_now(target.parent) - seen.mtime_ns / 1e9 <= lease and not _pid_dead(seen.owner):
            return None
        return _take_over(target, seen, lease, run)
    return None


def claim_state(claim_file: Path, lease: float = LEASE) -> str | None:
    """Why a claim file (`<artifact>.claim`, or its guard `.claim.lock`) is stale and may be removed, or None while it
    is live: its holder, a live process, renewed it within the lease (GUARD_STALE for a guard)."""
    seen = _read(Path(claim_file))
    if seen is None:
        return "gone"
    limit = GUARD_STALE if claim_file.name.endswith(".lock") else lease
    age = fs_now(Path(claim_file).parent) - seen.mtime_ns / 1e9
    if _pid_dead(seen.owner):
        return f"a claim whose holder (pid {seen.owner.get('pid')} on this host) is gone"
    if age > limit:
        return f"a claim not renewed for {age:.0f} s (its lease is {limit:g} s)"
    return None


def recorded_failure(path: Path, run: str | None = None) -> str | None:
    """The error recorded by a failed build of the artifact at `path` that counts for `run` (None: any run)."""
    try:
        record = json.loads(failed_path(Path(path)).read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(record, dict) or (run is not None and record.get("run") != run):
        return None
    return str(record.get("error", "failed"))


def _record_failure(path: Path, error: str, run: str | None) -> None:
    record = {"error": error, "run": run, "host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
    target = failed_path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, target)


def _error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def build_once(artifact_ready: Callable[[], bool], path: Path, build: Callable[[], None], lease: float = LEASE,
               poll: float = POLL, run: str | None = None, timeout: float | None = None) -> bool:
    """Return once the artifact at `path` exists, having built it here only if no one else is: True when this call
    built it.

    Builds under the claim when it can take it; otherwise polls until `artifact_ready()`, the holder's recorded
    failure (raised as ArtifactFailed with its error line), or a stale claim it takes over. `build` must leave the
    artifact ready (written atomically) or raise. `timeout` bounds the wait (TimeoutError), not a build. With `run`
    None every recorded failure counts until someone removes `failed_path(path)`; give the run's id to retry the
    failures of earlier runs.
    """
    path = Path(path)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if artifact_ready():
            return False
        error = recorded_failure(path, run)
        if error is not None:
            raise ArtifactFailed(error)
        held = claim(path, lease, run)
        if held is not None:
            with held:
                if artifact_ready():  # finished by another between our look and our claim
                    return False
                error = recorded_failure(path, run)  # recorded between our look and our claim
                if error is not None:
                    raise ArtifactFailed(error)
                failed_path(path).unlink(missing_ok=True)  # an earlier run's failure: this run tries again
                try:
                    build()
                except Exception as exc:
                    _record_failure(path, _error_line(exc), run)
                    raise
            return True
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{path.name}: still claimed by another worker after {timeout:g} s")
        time.sleep(poll)
