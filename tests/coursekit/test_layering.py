"""The maths of coursekit imports with NumPy alone: matplotlib and ipywidgets are for the leaves
(coursekit.plotting, coursekit.widgets), so a reader can use the reference code without them."""

import pkgutil
import subprocess
import sys
import textwrap

import coursekit

#: The leaves that draw; everything else in coursekit is maths.
DRAWING = ("coursekit.plotting", "coursekit.widgets")
BLOCKED = ("matplotlib", "ipywidgets", "PIL", "IPython")


def maths_modules():
    names = [m.name for m in pkgutil.walk_packages(coursekit.__path__, "coursekit.")]
    return ["coursekit"] + sorted(n for n in names if not n.startswith(DRAWING))


def test_every_maths_module_imports_with_plotting_libraries_blocked():
    modules = maths_modules()
    assert {"coursekit.optimize", "coursekit.nn.two_layer", "coursekit.distributed.scaling"} <= set(
        modules
    )
    script = textwrap.dedent(f"""
        import importlib, importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ImportError("blocked: " + name)

        sys.meta_path.insert(0, Block())
        failed = []
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                failed.append(f"{{name}}: {{exc}}")
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
    """)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_blocker_can_fail():
    """The same check on a drawing module must report it (so the test above can fail)."""
    script = (
        "import importlib.abc, sys\n"
        "class B(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib': raise ImportError(name)\n"
        "sys.meta_path.insert(0, B())\n"
        "import coursekit.plotting\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert run.returncode != 0 and "matplotlib" in run.stderr
