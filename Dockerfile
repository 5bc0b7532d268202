# The incident receiver (`incident serve`) and the capture Jobs (`incident run`): docs/deploy.md.
# Non-root (numeric UID, so runAsNonRoot can check it), read-only root file system friendly:
# everything written at run time goes to /tmp (an emptyDir in the manifests) or to the
# workspaces volume.
#   docker build -t incident-runbooks:0.1.0 .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY incident_lib ./incident_lib
# the package only, no dev extras
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
        --prefix=/install .

FROM python:3.11-slim-bookworm
ARG UID=10001
ARG GID=10001
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp/home \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    IPYTHONDIR=/tmp/ipython \
    JUPYTER_CONFIG_DIR=/tmp/jupyter/config \
    JUPYTER_DATA_DIR=/tmp/jupyter/data \
    JUPYTER_RUNTIME_DIR=/tmp/jupyter/runtime \
    JUPYTER_PLATFORM_DIRS=1 \
    INCIDENT_NOTEBOOKS=/opt/incident-runbooks/notebooks
RUN groupadd --system --gid "${GID}" incident \
    && useradd --system --uid "${UID}" --gid "${GID}" --home-dir /tmp/home \
        --no-create-home --shell /usr/sbin/nologin incident
COPY --from=build /install /usr/local
COPY notebooks/*.ipynb /opt/incident-runbooks/notebooks/
# the workspaces volume's mount point, owned by the user for a plain `docker run` too
RUN mkdir -p /var/lib/incident-runbooks \
    && chown "${UID}:${GID}" /var/lib/incident-runbooks \
    && python -m compileall -q /usr/local/lib/python3.11/site-packages/incident_lib
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# the manifests probe /healthz themselves (liveness and readiness); this is for plain docker
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["incident", "serve"]
CMD ["--config", "/etc/incident-runbooks/receiver.yaml", "--host", "0.0.0.0", "--port", "8080", "--workspaces", "/var/lib/incident-runbooks"]
