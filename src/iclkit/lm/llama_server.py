"""llama-cpp-python's OpenAI-compatible server, with the model parameters iclkit's ``llamacpp`` back-end uses.

    python -m iclkit.lm.llama_server --model smollm2-135m [any option of python -m llama_cpp.server]

This is llama-cpp-python's own server (``llama_cpp.server``: same options, config files, endpoints), with two
changes to how it loads a model:

* **No repacked weights** (``use_extra_bufts=False``). llama.cpp's "extra buffer types" repack CPU weights into
  layouts for AVX-512/AMX kernels; on some Xeons with AMX they crash ``Llama.eval`` on the first request (a
  segfault, even with one thread) when the wheel was built for that CPU. ``llama_cpp.Llama`` has no argument for
  this field, so every model load runs inside :func:`iclkit.lm.llamacpp._model_params`, as the back-end does.
* **Embedded names.** ``--model smollm2-135m`` / ``gemma3-270m`` (or a folder holding one ``.gguf``) resolves to
  the GGUF file, and the name becomes the model's alias unless ``--model_alias`` is given.

SmolLM2 adds no BOS token; for correct prompt log-probabilities from this server (0.3.36) also pass
``--kv_overrides tokenizer.ggml.add_bos_token=bool:true`` (see :mod:`iclkit.lm.openai_api`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from iclkit.errors import IclkitError
from iclkit.lm.llamacpp import _import_llama_cpp, _model_params, gguf_path

# What the server's model loader gets in llama_model_params besides llama-cpp-python's defaults.
SERVER_MODEL_PARAMS: dict[str, Any] = {"use_extra_bufts": False}


def portable_loader(load: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap llama-cpp-python's ``LlamaProxy.load_llama_from_model_settings``: resolve embedded model names, then
    load with :data:`SERVER_MODEL_PARAMS`."""
    llama_cpp = _import_llama_cpp()

    def load_portably(settings: Any) -> Any:
        if settings.hf_model_repo_id is None:  # otherwise `model` is a file name inside that hub repository
            settings = settings.model_copy(update={"model": str(gguf_path(settings.model))})
        with _model_params(llama_cpp, **SERVER_MODEL_PARAMS):
            return load(settings)

    return load_portably


def install() -> None:
    """Make every model load of llama-cpp-python's server in this process go through :func:`portable_loader`
    (the default model at start-up, and any other one a request switches to)."""
    _import_llama_cpp()
    try:
        from llama_cpp.server.model import LlamaProxy
    except ImportError as exc:
        raise IclkitError(f"the server needs llama-cpp-python's server extra: pip install "
                          f"'llama-cpp-python[server]' ({exc})") from None
    if not getattr(LlamaProxy.load_llama_from_model_settings, "_iclkit_portable", False):
        loader = portable_loader(LlamaProxy.load_llama_from_model_settings)
        loader._iclkit_portable = True  # type: ignore[attr-defined]
        LlamaProxy.load_llama_from_model_settings = staticmethod(loader)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``llama_cpp.server``'s command line (it reads ``sys.argv``) with :func:`install` in effect."""
    saved_argv = sys.argv
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    try:
        install()
        from llama_cpp.server.__main__ import main as server_main

        server_main()
    except IclkitError as exc:
        print(f"iclkit.lm.llama_server: error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        sys.argv = saved_argv
    return 0


if __name__ == "__main__":
    sys.exit(main())
