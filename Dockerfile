# The image of every Airflow service in docker-compose.yml: Airflow's official image with this project
# installed under Airflow's constraints at build time (nothing is installed when a container starts).
#
# The tag names the Airflow release and its Python: it must match apache-airflow in requirements.lock
# (tests/test_compose.py checks it). The image defaults to Python 3.12, which the package supports
# (requires-python >=3.11,<3.14). Pin it by digest too once you have pulled it
# (`docker buildx imagetools inspect apache/airflow:3.3.2-python3.12`): FROM apache/airflow:3.3.2-python3.12@sha256:...
FROM apache/airflow:3.3.2-python3.12

# The package and its templates (the wheel carries them as releases/templates/, see pyproject.toml).
COPY --chown=airflow:0 pyproject.toml README.md /opt/incident-releases/
COPY --chown=airflow:0 releases/ /opt/incident-releases/releases/
COPY --chown=airflow:0 templates/ /opt/incident-releases/templates/

# Airflow's documented way to add packages to its image: the constraints file the image was built with
# (${HOME}/constraints.txt) and apache-airflow pinned to the image's own version, so that nothing of
# Airflow is upgraded or downgraded. A requirement of this project that the constraints do not admit
# fails the build here, loudly, rather than drifting at run time.
RUN pip install --no-cache-dir \
      "apache-airflow==${AIRFLOW_VERSION}" \
      "/opt/incident-releases[airflow]" \
      --constraint "${HOME}/constraints.txt" \
 && python -c "import releases.render, releases.pipeline; print('incident-releases installed; templates in', releases.render.TEMPLATES)"

# The DAGs and plugins, where Airflow looks by default (AIRFLOW_HOME=/opt/airflow).
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

# SeaweedFS's configuration writer (devstack/seaweed.py, the same code that configures `make up`'s store),
# run by the seaweedfs-config step only; it is tooling beside the package, not installed with it.
COPY --chown=airflow:0 devstack/__init__.py devstack/seaweed.py /opt/incident-releases/devstack/

# Mount points of two named volumes, made here because a new volume takes its mount point's owner and mode
# from the image: /config, where seaweedfs-config writes SeaweedFS's configuration as SeaweedFS's own user
# (uid 1000, the `seaweed` user of chrislusf/seaweedfs), and /public-keys, where keys-public writes the
# keys' public halves as AIRFLOW_UID (group 0, as every Airflow container runs).
USER root
RUN install -d -o 1000 -g 0 -m 0700 /config \
 && install -d -o airflow -g 0 -m 0770 /public-keys
USER airflow
