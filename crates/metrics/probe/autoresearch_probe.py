"""autoresearch probe: measures a training loop's data waits and steps.

Place this file next to the training script and wrap the loop's iterable:

    import autoresearch_probe as probe
    for batch in probe.track(loader, batch_size=32):
        ...

It yields exactly the items of the wrapped iterable and prints one JSON object per
line to stdout, prefixed with ``[autoresearch] `` (protocol: docs/probe-protocol.md).
Standard library only; Python 3.9 or newer.

Environment variables (each overrides the matching argument of ``track``):

- ``AUTORESEARCH_HEADSPACE=1``: headspace mode. Cache the first
  ``AUTORESEARCH_HEADSPACE_CACHES`` batches (default 10), read the real loader for
  ``AUTORESEARCH_HEADSPACE_AFTER`` steps (default 30), then replay the cache until
  ``AUTORESEARCH_HEADSPACE_STEPS`` steps in all (default 200) and end the process
  (exit status 0). This is the compute-only floor; SPDL's ``cache_iterator`` is used
  when spdl is importable.
- ``AUTORESEARCH_GC_EVERY=K``: disable automatic garbage collection and collect every
  K steps (off by default).
- ``AUTORESEARCH_STEP_LINES=N``: print one line per step for the first N steps
  (default 2000), then one aggregate line per ``AUTORESEARCH_WINDOW`` steps (default 100).
- ``AUTORESEARCH_TAG_LOGS=0``: leave SPDL's log records alone. By default the probe
  prefixes every record of an ``spdl`` logger with ``[pid N rank R #crc32]``, so that
  statistics lines can be attributed to their process and rank whatever the log format,
  and a line torn by several writers is recognised.

Every line the probe prints carries its process id and rank and ends with `` #`` and the
CRC-32 of its JSON text: a line put together from pieces of several writers fails the
check and is dropped by the reader instead of being read as a record.
"""

import binascii
import gc
import json
import os
import sys
import time

PROTOCOL_VERSION = 2
PREFIX = "[autoresearch] "
_PROCESS_T0 = time.perf_counter()


def _crc(text):
    return "%08x" % (binascii.crc32(text.encode("utf-8")) & 0xFFFFFFFF)


def _env_rank(*names):
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return None


def _rank():
    """(rank, local_rank, world_size) from the launcher's variables: torchrun's, Slurm's,
    Open MPI's or MPICH's; None where none is set."""
    return (
        _env_rank("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"),
        _env_rank("LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"),
        _env_rank("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"),
    )


def _json_rank(rank):
    return "null" if rank is None else str(rank)


# Step lines are formatted without json and written in batches: after a long step the
# interpreter's caches are cold, and json.dumps plus a write per step would cost ~1% of
# a 10 ms step. Batches go out at most FLUSH_EVERY_S apart, and before any other event.
FLUSH_EVERY_S = 0.5
FLUSH_EVERY_LINES = 64
_STEP_FORMAT = '{"v":%d,"event":"step","pid":%%d,"rank":%%s,"step":%%d,"wait_ms":%%.4f,"compute_ms":%%.4f,"step_ms":%%.4f}' % PROTOCOL_VERSION
_pending = []
_last_flush = [0.0]


def _line(text):
    return PREFIX + text + " #" + _crc(text)


def _flush_steps():
    if _pending:
        sys.stdout.write("\n".join(_pending) + "\n")
        _pending.clear()
    sys.stdout.flush()
    _last_flush[0] = time.perf_counter()


def _emit_step(identity, step, wait_ms, compute_ms, now):
    _pending.append(_line(_STEP_FORMAT % (identity + (step, wait_ms, compute_ms, wait_ms + compute_ms))))
    if len(_pending) >= FLUSH_EVERY_LINES or now - _last_flush[0] >= FLUSH_EVERY_S:
        _flush_steps()


def _emit(event, **fields):
    record = {"v": PROTOCOL_VERSION, "event": event, "pid": os.getpid(), "rank": _rank()[0]}
    record.update(fields)
    _pending.append(_line(json.dumps(record, separators=(",", ":"))))
    _flush_steps()


def _tag_spdl_records():
    """Prefix the records of SPDL's loggers with this process's identity and a checksum
    of the message. Installed at import, so the pipeline subprocesses that re-import the
    training script (spawn, forkserver) tag theirs too; fork children inherit it."""
    if os.environ.get("AUTORESEARCH_TAG_LOGS", "1") in ("0", "false", "False", "no"):
        return
    import logging

    previous = logging.getLogRecordFactory()
    if getattr(previous, "_autoresearch_tags", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if record.name.startswith("spdl"):
            try:
                message = record.getMessage()
            except Exception:  # a record whose arguments do not format: leave it as it is
                return record
            rank = _rank()[0]
            record.msg = "[pid %d%s #%s] %s" % (
                os.getpid(),
                "" if rank is None else " rank %d" % rank,
                _crc(message),
                message,
            )
            record.args = ()
        return record

    factory._autoresearch_tags = True
    logging.setLogRecordFactory(factory)


def _forget_parent_lines():
    # A forked child holds a copy of the parent's unwritten step lines: never write them
    # again under the child's name.
    _pending.clear()


_tag_spdl_records()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_lines)


def _env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError("%s must be a whole number, not %r" % (name, raw)) from None


def _seconds_since_process_start():
    """Age of this process from /proc (falls back to the time since import)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _PROCESS_T0


def _cpu_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def _first_dimension(value):
    """The first dimension of an array or tensor (anything with a non-empty ``shape``)."""
    shape = getattr(value, "shape", None)
    try:
        if shape is not None and len(shape) >= 1:
            return int(shape[0])
    except (TypeError, ValueError):
        pass
    return None


def _measure_batch(batch, depth=0):
    """(samples, rule) for a batch, or (None, why not). The rules, in order:

    1. an array or tensor: its first dimension;
    2. a dict: the first value that rules 1-5 measure;
    3. a dataclass or named tuple: the first field that rules 1-5 measure;
    4. a tuple whose items are all arrays, tensors or lists of one common first
       dimension or length (an ``(inputs, labels)`` pair): that dimension;
    5. a list or other tuple: its length.
    """
    if depth > 3:
        return None, "nested too deeply"
    n = _first_dimension(batch)
    if n is not None:
        return n, "first dimension of the %s" % type(batch).__name__
    if isinstance(batch, dict):
        for key, value in batch.items():
            n, rule = _measure_batch(value, depth + 1)
            if n is not None:
                return n, "%s at key %r" % (rule, key)
        return None, "no value of the dict has a size"
    fields = getattr(batch, "__dataclass_fields__", None) or getattr(batch, "_fields", None)
    if fields and not isinstance(batch, list):
        for name in fields:
            n, rule = _measure_batch(getattr(batch, name, None), depth + 1)
            if n is not None:
                return n, "%s in field %s" % (rule, name)
        return None, "no field of the %s has a size" % type(batch).__name__
    if isinstance(batch, tuple) and batch:
        sizes = set()
        for item in batch:
            size = _first_dimension(item)
            if size is None and isinstance(item, list):
                size = len(item)
            sizes.add(size)
        if None not in sizes and len(sizes) == 1:
            return sizes.pop(), "common first dimension of the tuple's %d items" % len(batch)
    if isinstance(batch, (list, tuple)):
        return len(batch), "length of the %s" % type(batch).__name__
    return None, "a %s has no size the probe can read" % type(batch).__name__


def _quantile(sorted_values, q):
    if not sorted_values:
        return None
    index = q * (len(sorted_values) - 1)
    low = int(index)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (index - low)


def _aggregate(values):
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "sum": round(sum(ordered), 4),
        "min": round(ordered[0], 4),
        "p50": round(_quantile(ordered, 0.5), 4),
        "p90": round(_quantile(ordered, 0.9), 4),
        "max": round(ordered[-1], 4),
    }


def _replay(iterable, num_caches, return_after, stop_after):
    """Our own cache iterator (SPDL's cache_iterator semantics) for when spdl is absent."""
    cache = []
    count = 0
    source = iter(iterable)
    while count < return_after:
        try:
            item = next(source)
        except StopIteration:
            break
        if len(cache) < num_caches:
            cache.append(item)
        yield item
        count += 1
        if count >= stop_after:
            return
    if not cache:
        return
    _emit("headspace", phase="replay", cached=len(cache), after_steps=count)
    i = 0
    while count < stop_after:
        yield cache[i % len(cache)]
        i += 1
        count += 1


def _headspace_iterable(iterable, num_caches, return_after, stop_after):
    if not (0 < num_caches <= return_after <= stop_after):
        raise ValueError(
            "headspace needs 0 < caches (%d) <= after (%d) <= steps (%d)" % (num_caches, return_after, stop_after)
        )
    try:
        from spdl.pipeline import cache_iterator  # type: ignore
    except ImportError:
        _emit("headspace", phase="start", implementation="probe", caches=num_caches, after_steps=return_after, steps=stop_after)
        return _replay(iterable, num_caches, return_after, stop_after)
    _emit("headspace", phase="start", implementation="spdl", caches=num_caches, after_steps=return_after, steps=stop_after)
    return cache_iterator(iterable, num_caches, return_caches_after=return_after, stop_after=stop_after, delete_src=True)


class _Tracker:
    def __init__(self, iterable, batch_size, headspace, caches, after, steps, gc_every, step_lines, window, name):
        self.iterable = iterable
        self.batch_size = batch_size
        self.headspace = headspace
        self.caches, self.after, self.steps = caches, after, steps
        self.gc_every = gc_every
        self.step_lines = step_lines
        self.window = max(1, window)
        self.name = name

    def __iter__(self):
        rank, local_rank, world_size = _rank()
        identity = (os.getpid(), _json_rank(rank))
        _emit(
            "start",
            name=self.name,
            local_rank=local_rank,
            world_size=world_size,
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            cpu_cores=_cpu_cores(),
            batch_size=self.batch_size,
            python="%d.%d.%d" % sys.version_info[:3],
            headspace=self.headspace,
            gc_every=self.gc_every,
            since_process_start_ms=round(_seconds_since_process_start() * 1000.0, 3),
            unix_time=time.time(),
        )
        if self.gc_every:
            gc.disable()
        source = self.iterable
        if self.headspace:
            source = _headspace_iterable(source, self.caches, self.after, self.steps)
        clock = time.perf_counter
        t_iter = clock()
        iterator = iter(source)
        step = 0
        reason = "exhausted"
        window = {"step_ms": [], "wait_ms": [], "compute_ms": []}
        window_first = None
        yielded_at = None
        wait_ms = 0.0
        try:
            while True:
                now = clock()
                gc_ms = 0.0
                if yielded_at is not None:
                    compute_ms = (now - yielded_at) * 1000.0
                    if self.gc_every and step % self.gc_every == 0:
                        gc.collect()
                        gc_ms = (clock() - now) * 1000.0
                    if gc_ms:
                        _emit("gc", step=step, gc_ms=round(gc_ms, 4))
                    if step <= self.step_lines:
                        _emit_step(identity, step, wait_ms, compute_ms, now)
                    else:
                        if window_first is None:
                            window_first = step
                        window["step_ms"].append(wait_ms + compute_ms)
                        window["wait_ms"].append(wait_ms)
                        window["compute_ms"].append(compute_ms)
                        if len(window["step_ms"]) >= self.window:
                            self._flush(window_first, window)
                            window_first = None
                # Our own bookkeeping above is outside both the wait and the compute time.
                requested = clock()
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                got = clock()
                wait_ms = (got - requested) * 1000.0
                step += 1
                if step == 1:
                    try:
                        measured, rule = _measure_batch(batch)
                    except Exception as err:  # a batch type whose attributes raise
                        measured, rule = None, "reading its size failed: %s" % type(err).__name__
                    _emit(
                        "ttfb",
                        ttfb_ms=round((got - t_iter) * 1000.0, 3),
                        since_process_start_ms=round(_seconds_since_process_start() * 1000.0, 3),
                        batch_size=measured,
                        batch_size_rule=rule,
                    )
                yielded_at = clock()
                yield batch
        except GeneratorExit:
            reason = "closed"
            raise
        finally:
            if window["step_ms"]:
                self._flush(window_first, window)
            if self.gc_every:
                gc.enable()
            _emit("end", steps=step, reason=reason, wall_ms=round((clock() - t_iter) * 1000.0, 3))
        if self.headspace and step >= self.steps:
            # The floor is measured. A loop that asks for more with next() would die of
            # StopIteration, and an epoch loop would start over: end the job cleanly.
            _emit("headspace", phase="done", steps=step)
            raise SystemExit(0)

    def _flush(self, first, window):
        _emit(
            "window",
            first_step=first,
            step_ms=_aggregate(window["step_ms"]),
            wait_ms=_aggregate(window["wait_ms"]),
            compute_ms=_aggregate(window["compute_ms"]),
        )
        for values in window.values():
            values.clear()

    def __len__(self):
        return len(self.iterable)


def track(iterable, batch_size=None, *, headspace=None, headspace_caches=None, headspace_after=None,
          headspace_steps=None, gc_every=None, step_lines=None, window=None, name="train"):
    """Wrap the training loop's iterable; see the module docstring."""
    if headspace is None:
        headspace = os.environ.get("AUTORESEARCH_HEADSPACE", "") not in ("", "0", "false", "False")
    return _Tracker(
        iterable,
        batch_size,
        bool(headspace),
        headspace_caches or _env_int("AUTORESEARCH_HEADSPACE_CACHES", 10),
        headspace_after or _env_int("AUTORESEARCH_HEADSPACE_AFTER", 30),
        headspace_steps or _env_int("AUTORESEARCH_HEADSPACE_STEPS", 200),
        gc_every if gc_every is not None else _env_int("AUTORESEARCH_GC_EVERY", 0),
        step_lines if step_lines is not None else _env_int("AUTORESEARCH_STEP_LINES", 2000),
        window if window is not None else _env_int("AUTORESEARCH_WINDOW", 100),
        name,
    )


def emit_sample(**fields):
    """Print a system sample as a probe line (used by ``autoresearch sample``)."""
    _emit("sample", **fields)
