"""The orchestration layer: starts, watches and stops the kit's processes for the demo, the
drills, the scale-out topology, its check and its measurements (python3 stdlib only).

Run from the repository root as `python3 -m harness.ENTRY_POINT` (the scripts/ commands do):

    entry points      demo, drills, scale, scale_check, measure, netfault_check
    what they run     stack (the demo's single Prometheus), topology (shards and global view)
    building blocks   supervisor (processes, wait_for), clients (HTTP APIs, /metrics), kit
                      (the kit's files and checks), rewrite (configs derived from the kit),
                      durations (the one duration grammar), rules (parsing and placement of
                      rules on shards), net (HTTP, URLs), ports (free ports, who holds one),
                      receiver (the webhook receiver, also used by deploy/compose/),
                      netfaults (a network namespace, nftables faults below HTTP)

The building blocks import nothing above them; the entry points import what they run.
"""


class HarnessError(Exception):
    """A process did not start, an API answered an error, or a file could not be derived from
    the kit."""


class CheckFailed(HarnessError):
    """A check of the drills or the scale check does not hold; never retried by wait_for."""


def expect(condition, message):
    """CheckFailed with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)
