# neurospeech: the pinned environment that regenerates every figure and table.
#   docker build -t neurospeech .
#   docker run --rm -v "$PWD/paper:/home/neuro/neurospeech/paper" neurospeech
#   docker run --rm neurospeech python3 -m nox -R -s reproduce -- --profile swpd
# Without Docker or a registry: container/build.sh (podman, a base made from Debian packages).
#
# Build arguments (all optional):
#   BASE          the base image; any Debian-like image with python3.11, its venv module, git
#   COMMIT, DIRTY the project's commit and whether the tree differed from it (provenance)
#   LOCK_SHA256   the lock's sha256: checked, and written as a label
#   SOURCE_DATE_EPOCH  makes the .pyc files independent of the build's time
#   FETCH_MODELS  1 (default) downloads the registry's models for the swpd profile; 0 skips
#                 it (the sample needs no model, and a build without the hub can still run)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX
#                 where pip takes the packages (for example a folder of wheels mounted at
#                 build time, or PyTorch's CPU wheel index for torch's CPU build)
ARG BASE=python:3.11.7-slim-bookworm
FROM ${BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# git only records history (DataLad); it does not touch the numbers. Not pinned to a
# Debian revision: bookworm drops superseded revisions, which would break the build.
# A base that has git already (container/build.sh's) needs no package index.
# hadolint ignore=DL3008
RUN command -v git >/dev/null \
    || { apt-get update \
         && apt-get install -y --no-install-recommends git \
         && rm -rf /var/lib/apt/lists/*; }

RUN useradd --create-home --shell /bin/bash neuro
USER neuro
WORKDIR /home/neuro/neurospeech
ENV PATH=/home/neuro/tools/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1

# DataLad records its runs as commits and needs an identity.
RUN git config --global user.name "neurospeech container" \
    && git config --global user.email "neurospeech@container.invalid"

ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG LOCK_SHA256
# Identical builds: with SOURCE_DATE_EPOCH set, pip writes .pyc files checked by the
# source's hash instead of its time; virtualenv's pip seeder writes pip's and setuptools'
# RECORD files in a fixed order (its default seeder copies them in directory order).
ARG SOURCE_DATE_EPOCH
# The environment first, from the lock alone, so that an edit of the source does not
# rebuild it: nox itself (its own dependencies pinned by the lock too) in a tools
# environment, then the reproduce session's environment, torch first. Without src/ the
# session installs the dependencies only (noxfile.install_locked).
COPY --chown=neuro requirements/lock.txt requirements/lock.txt
COPY --chown=neuro noxfile.py pyproject.toml ./
RUN { [ -z "$LOCK_SHA256" ] || echo "$LOCK_SHA256  requirements/lock.txt" | sha256sum --check --quiet; } \
    && python3 -m venv /home/neuro/tools \
    && /home/neuro/tools/bin/python3 -m pip install -c requirements/lock.txt \
        "$(grep -E '^nox==' requirements/lock.txt)" \
    && VIRTUALENV_SEEDER=pip /home/neuro/tools/bin/python3 -m nox -s reproduce --install-only

COPY --chown=neuro . .
# The project itself (editable) into that environment, so the container runs offline.
RUN python3 -m nox -s reproduce --install-only
# The registry's models at their pinned commits (the swpd profile), with the reproduce
# session's environment.
ARG FETCH_MODELS=1
RUN if [ "$FETCH_MODELS" = 1 ]; then HF_HUB_OFFLINE=0 .nox/reproduce/bin/neurospeech models fetch; fi

# Provenance: .git is not copied, so the manifest reads the commit from here.
ARG COMMIT=""
ARG DIRTY=""
ENV NEUROSPEECH_COMMIT=$COMMIT \
    NEUROSPEECH_DIRTY=$DIRTY
LABEL org.opencontainers.image.title="neurospeech" \
      org.opencontainers.image.revision="$COMMIT" \
      org.neurospeech.dirty="$DIRTY" \
      org.neurospeech.lock-sha256="$LOCK_SHA256"

CMD ["python3", "-m", "nox", "-R", "-s", "reproduce"]
