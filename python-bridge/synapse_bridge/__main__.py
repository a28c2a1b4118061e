"""Entry point: ``python -m synapse_bridge`` (spawned by Node; speaks protocol v1 on stdio).

Order matters: claim stdout for the protocol before anything can print, arm orphan-proofing,
import pydantic-ai, say ``hello``, then serve. Exit codes: 0 after ``shutdown`` or stdin EOF,
2 start-up failure, 3 protocol violation by Node, 4 parent lost, 5 memory limit (a run hit
``MemoryError`` under ``memoryLimitMb``: the process recycles itself).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Coroutine
from typing import Any, NoReturn


def main(forked: bool = False) -> NoReturn:
    """Runs the runtime until shutdown; never returns.

    ``forked``: this process was forked by the zygote (``_zygote.py``), so its parent is the
    zygote, not Node. Then no parent-death signal (a zygote crash must not kill workers) and the
    watchdog checks that the Node pid is still alive instead of comparing ``getppid()``.
    """
    from . import testing
    from ._framing import FrameWriter, claim_stdout
    from ._watchdog import EXIT_PARENT_LOST, Watchdog, expected_parent_pid, pid_alive_probe, set_parent_death_signal

    protocol_fd = claim_stdout()
    if forked:
        node_pid = expected_parent_pid()
        watchdog = Watchdog(node_pid, getppid=pid_alive_probe(node_pid)).start()
    else:
        set_parent_death_signal()
        watchdog = Watchdog(expected_parent_pid()).start()
    writer = FrameWriter(protocol_fd, on_broken_pipe=lambda: os._exit(EXIT_PARENT_LOST))
    testing._install(writer)  # pyright: ignore[reportPrivateUsage]

    from .exceptions import error_frame

    try:
        import asyncio
        from importlib.metadata import version

        import pydantic_ai  # noqa: F401  (the expensive import hello announces)

        # Nearly every agent module imports these; paying for them before `hello` means a warm
        # spare has them already, so a restart from a spare only imports the user's own code.
        import pydantic_ai.models
        import pydantic_ai.models.function  # noqa: F401
        import pydantic_ai.models.test  # noqa: F401
        if os.environ.get('SYNAPSE_ALLOW_MODEL_REQUESTS', '1') == '0':
            # Offline guard (test suites, CI): any model that would call a provider raises
            # instead; FunctionModel and TestModel are local and unaffected.
            pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
        for extra in os.environ.get('SYNAPSE_PRELOAD', '').split(','):
            if extra.strip():
                __import__(extra.strip())

        from ._control import control_fds_from_env
        from ._logging import install_log_forwarding
        from ._runtime import EXIT_MEMORY, Runtime, hard_exit
        from ._schema import FEATURES

        pydantic_ai_version: str | None = None
        if forked:
            from . import _zygote

            pydantic_ai_version = _zygote.PYDANTIC_AI_VERSION  # read once by the zygote, at preload
        if pydantic_ai_version is None:
            pydantic_ai_version = version('pydantic-ai-slim')
    except BaseException as exc:
        writer.write(error_frame(exc, None, kind='startup', retryable=False))
        os._exit(2)

    writer.write({
        't': 'hello',
        'v': 1,
        'pid': os.getpid(),
        'python': platform.python_version(),
        'pydanticAi': pydantic_ai_version,
        # Node checks it against its own package version (SYN_ERR_BRIDGE_VERSION). Read at this
        # point, from the package, so it is the version of the code that is actually running.
        'bridge': _bridge_version(),
        'features': list(FEATURES),
    })
    install_log_forwarding(writer.write)
    runtime = Runtime(writer, control=control_fds_from_env())
    try:
        code = _run_loop(runtime.serve())
    except MemoryError:
        # An allocation failure the loop did not survive: under memoryLimitMb that is the
        # memory limit (EXIT_MEMORY → SYN_ERR_MEMORY_LIMIT), not an unexplained crash.
        if runtime.memory_capped:
            hard_exit(EXIT_MEMORY)
        raise
    watchdog.close()
    hard_exit(code)


def _bridge_version() -> str:
    """``synapse_bridge.__version__`` (kept equal to pyproject's and the Node package's version)."""
    import synapse_bridge

    return synapse_bridge.__version__


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Runs ``main`` on uvloop when it is installed (the default: ~15 % less CPU per frame and
    per agent turn, measured in docs/benchmarks.md), else on the stock asyncio loop. Env
    ``SYNAPSE_LOOP=asyncio`` forces the stock loop; Node sets it for workers with a
    ``memoryLimitMb``, because uvloop does not recover from allocation failures under
    ``RLIMIT_AS`` (a ``MemoryError`` in one run leaves it raising ``SystemError``)."""
    import asyncio

    if os.environ.get('SYNAPSE_LOOP', 'auto') != 'asyncio':
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)


if __name__ == '__main__':
    import sys

    if sys.argv[1:] == ['--zygote']:
        from ._zygote import serve

        serve(lambda: main(forked=True))
    main()
