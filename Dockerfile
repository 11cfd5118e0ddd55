# trafficmon in a container: `docker-compose up --build` (docker-compose.yml says
# how it runs: the host's network and processes, a few capabilities, read-only).
#
# The base is Debian's slim image; on a host that reaches no container registry,
# packaging/base-image.sh builds it from Debian's packages under this tag.
# The classic builder suffices (no BuildKit features are used).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
LABEL org.trafficmon.stage=build
# PEM files in packaging/extra-ca/ (none by default) are trusted by apt and pip here only.
COPY packaging/extra-ca/ /usr/local/share/ca-certificates/extra/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && for pem in /usr/local/share/ca-certificates/extra/*.pem; do \
        [ -e "$pem" ] && mv "$pem" "${pem%.pem}.crt"; \
    done; update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md /src/
COPY trafficmon /src/trafficmon
COPY capture /src/capture
COPY state /src/state
COPY web /src/web
RUN python3 -m venv /opt/trafficmon \
 && /opt/trafficmon/bin/pip install -q /src \
 && /opt/trafficmon/bin/pip uninstall -q -y pip setuptools

FROM ${BASE}
# python3 (the venv's interpreter), libpcap for CAPTURE_FILTER, tzdata for TIMEZONE;
# the process drops from root to this user once its capture sockets are open (RUN_AS).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 libpcap0.8 tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin trafficmon
COPY --from=build /opt/trafficmon /opt/trafficmon
ENV PATH=/opt/trafficmon/bin:$PATH PYTHONDONTWRITEBYTECODE=1 HOST=0.0.0.0 DATA_DIR=/data
VOLUME /data
EXPOSE 8080
# /health needs no credentials; it answers 503 when capture is down.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]
ENTRYPOINT ["trafficmon"]
