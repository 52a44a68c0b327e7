"""Static checks of the Dockerfile (run by ./scripts/test): a multi-stage build whose
runtime stage runs the `fasterclaw` binary alone as a non-root user, built offline
(SQLX_OFFLINE) with dependencies cached in their own layer, and no secret in ENV or ARG.
Parsed with dockerfile-parse (PyPI); exits 1 listing every problem."""

import re
import sys
import tomllib
from pathlib import Path

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|DATABASE_URL)", re.I)


def stages(instructions):
    """The instructions of each stage, in order."""
    result = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            result.append([instruction])
        elif result:
            result[-1].append(instruction)
    return result


def main():
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    problems = []
    all_stages = stages(parser.structure)
    if len(all_stages) < 2:
        problems.append("the build is not multi-stage")
    runtime = all_stages[-1] if all_stages else []
    base = runtime[0]["value"] if runtime else ""
    if "rust:" in base or "cargo" in base:
        problems.append(f"the runtime stage starts from a build image ({base})")

    # Dependencies in their own layer: cargo-chef's cook before the sources are copied.
    builder_text = "\n".join(i["content"] for stage in all_stages[:-1] for i in stage)
    if "cargo chef cook" not in builder_text:
        problems.append("dependencies are not built in a layer of their own (cargo chef cook)")
    if not re.search(r"SQLX_OFFLINE\s*=?\s*true", builder_text):
        problems.append("the build does not set SQLX_OFFLINE=true")
    if not re.search(r"cargo build[^\n]*--bin fasterclaw\b", builder_text):
        problems.append("the build does not build the fasterclaw binary alone (--bin fasterclaw)")

    # The runtime stage: only the fasterclaw binary, run as a non-root user.
    copies = [i["value"] for i in runtime if i["instruction"] in ("COPY", "ADD")]
    binaries = [c.split()[-2] if len(c.split()) >= 2 else c for c in copies]
    if len(copies) != 1 or not binaries[0].endswith("/fasterclaw"):
        problems.append(f"the runtime stage must copy the fasterclaw binary alone, not {copies}")
    if any("fasterclaw-sim" in i["content"] for i in runtime):
        problems.append("the runtime stage mentions fasterclaw-sim")
    users = [i["value"].split(":")[0] for i in runtime if i["instruction"] == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("the runtime stage does not end as a non-root USER")
    entrypoint = " ".join(i["value"] for i in runtime if i["instruction"] == "ENTRYPOINT")
    if "fasterclaw" not in entrypoint:
        problems.append("the entrypoint is not the fasterclaw binary")
    if not any(i["instruction"] == "HEALTHCHECK" for i in runtime):
        problems.append("the runtime stage has no HEALTHCHECK")

    # No secret baked in: no ENV or ARG whose name says it holds one.
    for instruction in parser.structure:
        if instruction["instruction"] in ("ENV", "ARG"):
            name = re.split(r"[=\s]", instruction["value"].strip(), maxsplit=1)[0]
            if SECRET_NAME.search(name):
                problems.append(f"line {instruction['startline'] + 1}: {instruction['instruction']} {name} would bake a secret into the image")

    # The Rust the image builds with is at least the workspace's rust-version.
    wanted = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    version = next(
        (i["value"].split("=", 1)[1] for i in parser.structure
         if i["instruction"] == "ARG" and i["value"].startswith("RUST_VERSION=")),
        "",
    )
    as_tuple = lambda v: tuple(int(p) for p in v.split(".") if p.isdigit())
    if not version or as_tuple(version) < as_tuple(wanted):
        problems.append(f"RUST_VERSION {version!r} is older than the workspace's rust-version {wanted}")

    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("target/", ".git/", ".env"):
        if needed not in ignored:
            problems.append(f".dockerignore does not exclude {needed}")

    if problems:
        print("Dockerfile problems:", *problems, sep="\n  - ", file=sys.stderr)
        return 1
    print(f"Dockerfile: {len(all_stages)} stages, runtime {base}, user {users[-1]}, binary {binaries[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
