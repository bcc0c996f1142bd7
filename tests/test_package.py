import subprocess
import sys


def test_import_iclkit_does_not_import_heavy_libraries():
    code = ("import sys, iclkit, iclkit.cli.main; iclkit.build_parser = iclkit.cli.main.build_parser(); "
            "bad = [m for m in ('torch', 'sentence_transformers', 'transformers', 'datasets') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_public_api_resolves_lazily():
    import iclkit

    assert iclkit.RunConfig().shots == 8
    assert "sst2" in iclkit.task_names()
