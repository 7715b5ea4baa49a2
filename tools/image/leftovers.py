"""What a rebuild of the image leaves behind, and removing it.

Each build of a changed tree makes two images: the build stage's (about 395 MB, untagged)
and the runtime image, which takes the tag from the one before it. Both earlier ones stay
on the machine untagged ("dangling"): about 680 MB a build, 5 GB in a day of CI runs here
before this. The Dockerfile labels each stage (`org.coach.image.stage`), so that only
coach's own leftovers are chosen, never another project's images:

- every untagged runtime image (the tagged one is the current image);
- every untagged build stage but the newest, which holds the layer cache of the
  dependencies (`uv sync` of uv.lock) that the next build reuses. (If another checkout
  built a newer stage, this build's own goes: its next build then takes longer, nothing
  else.)

An image a container still uses is not removed (the engine refuses; that is left as is).
"""

from __future__ import annotations

from dataclasses import dataclass

from image_engine import log, run

STAGE_LABEL = "org.coach.image.stage"


@dataclass(frozen=True)
class Dangling:
    id: str
    created: str
    """The engine's creation time as it prints it (`2026-12-07 10:00:00 +0000 UTC`): one
    format and zone for every image of an engine, so the text sorts as the time does."""
    stage: str


def to_remove(images: list[Dangling]) -> list[str]:
    """The ids to remove of coach's untagged images (pure: see the module's rules)."""
    builds = sorted((i for i in images if i.stage == "build"), key=lambda i: i.created)
    runtimes = [i.id for i in images if i.stage == "runtime"]
    return runtimes + [i.id for i in builds[:-1]]


def dangling(engine: str) -> list[Dangling]:
    """coach's untagged images, listed by stage (one label filter each: Docker's `images`
    cannot print labels)."""
    found = []
    for stage in ("runtime", "build"):
        out = run(
            engine,
            "images",
            "--no-trunc",
            "--filter",
            "dangling=true",
            "--filter",
            f"label={STAGE_LABEL}={stage}",
            "--format",
            "{{.ID}}\t{{.CreatedAt}}",
            capture_output=True,
            text=True,
            check=False,
        )
        for line in out.stdout.splitlines():
            image_id, _, created = line.partition("\t")
            if image_id:
                found.append(Dangling(image_id, created, stage))
    return found


def remove_leftovers(engine: str) -> int:
    """Remove what earlier builds left; the number of images removed."""
    removed = 0
    for image_id in to_remove(dangling(engine)):
        gone = run(engine, "rmi", image_id, capture_output=True, text=True, check=False)
        if gone.returncode == 0:
            removed += 1
        else:
            why = (gone.stderr.strip().splitlines() or ["no reason given"])[-1]
            log(f"kept {image_id[:19]}: {why}")
    return removed
