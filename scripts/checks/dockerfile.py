"""Static checks of the Dockerfile (run by ./scripts/test): a multi-stage build whose
runtime stage runs the `fasterclaw` binary alone as a non-root user, built offline
(SQLX_OFFLINE) with dependencies cached in their own layer, every outside base image
pinned by digest, and no secret in ENV or ARG.
Parsed with dockerfile-parse (PyPI); exits 1 listing every problem."""

import re
import sys
import tomllib
from pathlib import Path

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|DATABASE_URL)", re.I)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# The ports the image serves: the facade's API, the controller's metrics and health, the
# facade's metrics.
PORTS = {"3001", "8080", "9090"}


def stages(instructions):
    """The instructions of each stage, in order."""
    result = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            result.append([instruction])
        elif result:
            result[-1].append(instruction)
    return result


def base_images(from_instructions):
    """(line, image, stage name) of each FROM: the image as written (flags such as
    --platform left out), and the name it gives its stage, if any."""
    result = []
    for instruction in from_instructions:
        words = [w for w in instruction["value"].split() if not w.startswith("--")]
        image = words[0] if words else ""
        name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
        result.append((instruction["startline"] + 1, image, name))
    return result


def unpinned(from_instructions):
    """The FROMs of an outside image (not an earlier stage, not scratch) that do not
    name it by digest, as (line, image)."""
    stages_so_far = set()
    result = []
    for line, image, name in base_images(from_instructions):
        outside = image.lower() not in stages_so_far and image.lower() != "scratch"
        if outside and ("$" in image or not DIGEST.search(image)):
            result.append((line, image))
        if name:
            stages_so_far.add(name.lower())
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

    # Every outside base image is pinned by digest (the tag alone can move), written
    # out (a build argument could name another image than the digest's).
    froms = [i for i in parser.structure if i["instruction"] == "FROM"]
    for line, image in unpinned(froms):
        problems.append(
            f"line {line}: FROM {image} is not pinned by digest (add @sha256:<64 hex>: "
            "docker buildx imagetools inspect <image:tag> prints it)"
        )

    # The Rust the image builds with is at least the workspace's rust-version: the tag
    # of the rust base image says which.
    wanted = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    rust = [re.match(r"(?:docker\.io/)?(?:library/)?rust:(\d+(?:\.\d+)*)", image)
            for _, image, _ in base_images(froms)]
    version = next((m.group(1) for m in rust if m), "")
    as_tuple = lambda v: tuple(int(p) for p in v.split(".") if p.isdigit())
    if not version or as_tuple(version) < as_tuple(wanted):
        problems.append(f"the rust base image's version {version!r} is older than the workspace's rust-version {wanted}")

    exposed = {p.split("/")[0] for i in runtime if i["instruction"] == "EXPOSE" for p in i["value"].split()}
    if not PORTS <= exposed:
        problems.append(f"the runtime stage does not EXPOSE {', '.join(sorted(PORTS - exposed))}")

    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("target/", ".git/", ".env"):
        if needed not in ignored:
            problems.append(f".dockerignore does not exclude {needed}")

    if problems:
        print("Dockerfile problems:", *problems, sep="\n  - ", file=sys.stderr)
        return 1
    print(f"Dockerfile: {len(all_stages)} stages, runtime {base}, user {users[-1]}, binary {binaries[0]}, "
          f"{len(froms) - len(unpinned(froms))} FROMs pinned or of earlier stages, Rust {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
