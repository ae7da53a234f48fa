# neurospeech: the pinned environment that regenerates every figure and table.
#   docker build -t neurospeech .
#   docker run --rm -v "$PWD/paper:/home/neuro/neurospeech/paper" neurospeech
#   docker run --rm neurospeech python3 -m nox -R -s reproduce -- --profile swpd
FROM python:3.11.7-slim-bookworm

# git only records history (DataLad); it does not touch the numbers. Not pinned to a
# Debian revision: bookworm drops superseded revisions, which would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --shell /bin/bash neuro
USER neuro
WORKDIR /home/neuro/neurospeech
ENV PATH=/home/neuro/.local/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1

# DataLad records its runs as commits and needs an identity.
RUN git config --global user.name "neurospeech container" \
    && git config --global user.email "neurospeech@container.invalid"

COPY --chown=neuro requirements/lock.txt requirements/lock.txt
RUN python3 -m pip install --user "$(grep -E '^nox==' requirements/lock.txt)"

COPY --chown=neuro . .
# Build the nox environment now (torch first, then the lock), so the container runs offline.
RUN python3 -m nox -s reproduce --install-only
# The registry's models at their pinned commits (the swpd profile); the sample needs none.
RUN HF_HUB_OFFLINE=0 python3 -m nox -s models

CMD ["python3", "-m", "nox", "-R", "-s", "reproduce"]
