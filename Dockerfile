# Keboola Connection image of the Daktela extractor: runs `python -m keboola_wrapper` on the data folder in /data.
# Build: docker build -t keboola-daktela .
# Run:   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/demo-output/keboola-data:/data" keboola-daktela
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /code

# Only what the package needs; pinned versions come from the lock (the only network access: the package index).
COPY pyproject.toml requirements.lock README.md ./
COPY tap_daktela ./tap_daktela
COPY keboola_wrapper ./keboola_wrapper
RUN pip install -c requirements.lock .

# Keboola mounts the data folder at /data; the component never needs root.
RUN useradd --create-home --uid 1000 --user-group component \
    && mkdir -p /data \
    && chown component:component /data
USER component

ENV KBC_DATADIR=/data
ENTRYPOINT ["python", "-m", "keboola_wrapper"]
