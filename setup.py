"""Build of the compiled OTLP decoder (spyglass/collector/_wire.c); everything else is in pyproject.toml.

The extension is optional: when it cannot be built (no compiler or Python headers), the package
installs without it and spyglass.collector uses its pure-Python decoder.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "spyglass.collector._wire",
            ["spyglass/collector/_wire.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
